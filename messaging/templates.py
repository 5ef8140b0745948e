"""Named SMS templates: every text the service sends is one of them, with its variables.

Mainland providers (Aliyun, Tencent) send only pre-approved templates (签名 + 模板 with
variables), so each text the parts write is declared here by name, beside the code that writes
it (`sms_template("alert", "【灾情】{place} …")`). The parts keep composing their texts as before;
the outbox recognises which template a text is and with which variables (`recognise`), and the
provider adapter sends the template code from `SMS_TEMPLATES` with those variables, each cut to
the provider's limit with a visible '…'. Twilio and the console send the text itself, so today's
texts do not change.

A drill's text starts with 【演练】; each template therefore has a drill twin `<name>.drill`
(the same text after 【演练】), registered with the provider like the others.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from core.exercises import DRILL_PREFIX

DRILL_SUFFIX = ".drill"
_VAR = re.compile(r"\{([a-z_][a-z0-9_]*)\}")


@dataclass(frozen=True)
class Template:
    """A text with `{variables}`; `doc` says when it is sent."""

    name: str
    text: str
    doc: str = ""
    pattern: re.Pattern = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        seen: set[str] = set()
        regex, pos = "", 0
        for match in _VAR.finditer(self.text):
            regex += re.escape(self.text[pos:match.start()])
            var = match.group(1)
            regex += f"(?P={var})" if var in seen else f"(?P<{var}>.*?)"
            seen.add(var)
            pos = match.end()
        regex += re.escape(self.text[pos:])
        object.__setattr__(self, "pattern", re.compile(regex, re.DOTALL))

    @property
    def variables(self) -> list[str]:
        """The variables in the order they first appear (Tencent's {1}, {2} … follow it)."""
        return list(dict.fromkeys(_VAR.findall(self.text)))

    @property
    def literal_length(self) -> int:
        return len(_VAR.sub("", self.text))

    def render(self, **params: object) -> str:
        return self.text.format(**{k: "" if v is None else v for k, v in params.items()})

    def provider_text(self, style: str = "aliyun") -> str:
        """The text to register: `${var}` for Aliyun, `{1}` … for Tencent. 【】 belong to the 签名
        alone, so a tag such as 【灾情】 is registered as 「灾情」 (the variables are the same)."""
        text = self.text.replace("【", "「").replace("】", "」")
        if style == "tencent":
            index = {v: i for i, v in enumerate(self.variables, start=1)}
            return _VAR.sub(lambda m: "{" + str(index[m.group(1)]) + "}", text)
        return _VAR.sub(lambda m: "${" + m.group(1) + "}", text)


_REGISTRY: dict[str, Template] = {}


def sms_template(name: str, text: str, doc: str = "") -> Template:
    """Declare a template (at import time, beside the code that writes the text)."""
    template = Template(name, text, doc)
    existing = _REGISTRY.get(name)
    if existing is not None and existing.text != text:
        raise ValueError(f"SMS template {name!r} declared twice with different texts")
    _REGISTRY[name] = template
    return template


def all_templates() -> list[Template]:
    return sorted(_REGISTRY.values(), key=lambda t: t.name)


def variables_of(name: str) -> list[str]:
    """The variables of a provider-facing name (`alert` or `alert.drill`), in the text's order."""
    template = _REGISTRY.get(name.removesuffix(DRILL_SUFFIX))
    return template.variables if template is not None else []


def provider_names() -> list[str]:
    """Every name SMS_TEMPLATES must map: each template and its drill twin."""
    return sorted([t.name for t in _REGISTRY.values()] + [t.name + DRILL_SUFFIX for t in _REGISTRY.values()])


@dataclass(frozen=True)
class Recognised:
    name: str                 # the provider-facing name (with .drill for a drill's text)
    params: dict[str, str]


def recognise(body: str) -> Recognised | None:
    """Which template this text is, and its variables; None if it is none of them.

    The most specific template (most fixed text) that matches the whole text wins."""
    drill = body.startswith(DRILL_PREFIX)
    text = body[len(DRILL_PREFIX):] if drill else body
    candidates = sorted(_REGISTRY.values(), key=lambda t: (-t.literal_length, t.name))
    for template in candidates:
        match = template.pattern.fullmatch(text)
        if match is not None:
            params = {v: match.group(v) for v in template.variables}
            return Recognised(template.name + (DRILL_SUFFIX if drill else ""), params)
    return None


def cut(value: str, limit: int) -> str:
    """A variable within the provider's limit, the cut marked with a visible '…'."""
    return value if len(value) <= limit else value[: max(0, limit - 1)] + "…"


def load_map(path: str | None) -> dict[str, str]:
    """SMS_TEMPLATES: a JSON object {template name: provider template code}."""
    if not path:
        return {}
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise RuntimeError(f"SMS_TEMPLATES {path} must hold a JSON object of name → template code")
    return {str(k): str(v) for k, v in data.items()}


def unmapped(mapping: dict[str, str]) -> list[str]:
    return [name for name in provider_names() if not mapping.get(name)]


def example_map() -> dict[str, str]:
    return {name: f"SMS_{i:09d}" for i, name in enumerate(provider_names(), start=1)}
