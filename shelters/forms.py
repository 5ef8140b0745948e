"""Flask-WTF forms (CSRF included) for creating and editing shelters and updating their state.

Field checks beyond "present and the right type" are the importer's (`check_record`), so a
shelter typed in by hand obeys exactly the rules of an imported one.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import FloatField, IntegerField, SelectField, SelectMultipleField, StringField, widgets
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from core.extensions import db
from core.models import Division, Person
from core.scope import scope_clause
from shelters.models import CLASS_LABELS, FACILITY_LABELS, LEVEL_LABELS, STATUS_LABELS, TYPE_LABELS


def _choices(labels: dict) -> list[tuple[str, str]]:
    return [(key, label) for key, label in labels.items()]


class MultiCheckboxField(SelectMultipleField):
    widget = widgets.ListWidget(prefix_label=False)
    option_widget = widgets.CheckboxInput()


class ShelterForm(FlaskForm):
    code = StringField(_l("编号"), validators=[DataRequired(), Length(max=40)])
    name = StringField(_l("名称"), validators=[DataRequired(), Length(max=100)])
    level = SelectField(_l("级别"), choices=_choices(LEVEL_LABELS), default="township")
    shelter_class = SelectField(_l("类别"), choices=_choices(CLASS_LABELS))
    type = SelectField(_l("类型"), choices=_choices(TYPE_LABELS))
    division_code = SelectField(_l("所属行政区划"), choices=[])
    address = StringField(_l("地址"), validators=[Optional(), Length(max=200)])
    lon = FloatField(_l("经度"), validators=[DataRequired()])
    lat = FloatField(_l("纬度"), validators=[DataRequired()])
    datum = SelectField(_l("坐标系"), choices=[("wgs84", "WGS84 (GPS)"), ("gcj02", _l("GCJ-02 (高德/腾讯地图)"))])
    effective_area_m2 = FloatField(_l("有效避难面积(平方米)"), validators=[Optional()])
    capacity = IntegerField(_l("容纳人数(留空按面积÷1.5平方米计算)"), validators=[Optional()])
    facilities = MultiCheckboxField(_l("设施"), choices=_choices(FACILITY_LABELS))
    manager_name = StringField(_l("管理员姓名"), validators=[Optional(), Length(max=100)])
    manager_phone = StringField(_l("管理员手机"), validators=[Optional(), Length(max=30)])

    def set_divisions(self, person: Person) -> None:
        """Only divisions in the person's scope can be chosen (scope on create and edit)."""
        stmt = select(Division.code, Division.name, Division.level).where(
            scope_clause(person, Division.code), Division.level.in_(("county", "township", "village")))
        rows = db.session.execute(stmt.order_by(Division.code).limit(5001)).all()
        if len(rows) > 5000:
            rows = db.session.execute(stmt.where(Division.level != "village").order_by(Division.code)).all()
        indent = {"county": "", "township": "· ", "village": "· · "}
        self.division_code.choices = [(code, f"{indent[level]}{name} ({code})") for code, name, level in rows]

    def record(self) -> dict:
        """The values as an import record (see shelters.importer.check_record)."""
        return {"code": self.code.data, "name": self.name.data, "level": self.level.data,
                "class": self.shelter_class.data, "type": self.type.data,
                "division_code": self.division_code.data, "address": self.address.data,
                "lon": self.lon.data, "lat": self.lat.data, "effective_area_m2": self.effective_area_m2.data,
                "capacity": self.capacity.data, "facilities": list(self.facilities.data or []),
                "manager_name": self.manager_name.data, "manager_phone": self.manager_phone.data}


class StateForm(FlaskForm):
    occupancy = IntegerField(_l("当前入住人数"), validators=[Optional(), NumberRange(min=0)])
    status = SelectField(_l("状态"), choices=[("", _l("（按人数自动）"))] + _choices(STATUS_LABELS),
                         validators=[Optional()])
    note = StringField(_l("备注"), validators=[Optional(), Length(max=200)])


class PlanSendForm(FlaskForm):
    """Only the CSRF token: sending the plan is a deliberate POST."""
