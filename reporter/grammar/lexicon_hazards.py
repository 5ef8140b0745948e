"""Hazard words: every name an officer may use for a hazard, mapped to one SPEC §3.2 hazard key.

Two national sources decide the mapping. GB/T 28921-2012 《自然灾害分类与代码》 sorts natural
hazards into five categories (气象水文灾害, 地质地震灾害, 海洋灾害, 生物灾害, 生态环境灾害) and
their types; the Ministry of Emergency Management's statistics (《自然灾害情况统计调查
制度》) report by the thirteen types our keys mirror (洪涝 干旱 台风 风雹 低温冷冻 雪灾 沙尘暴 地震
地质灾害 海洋灾害 森林草原火灾 生物灾害 其他). A GB type is filed under the statistics type that
counts it; a GB type the statistics have no type for goes to ``other``. Each line says where its
words come from: "GB <category>" (a type of the standard in that category; the standard's numeric
codes are not repeated here), "MEM" (the statistics' own name), or
"everyday" (what officers write). Words that name no natural hazard (雾霾, 交通事故, 停电) are
deliberately absent: they stay in the narrative.
"""

from __future__ import annotations

HAZARD_WORDS: dict[str, tuple[str, ...]] = {
    "flood": (
        "洪涝灾害", "洪涝", "洪水", "水灾", "FLOOD",  # GB 气象水文 洪涝灾害; MEM 洪涝
        "暴雨洪涝", "暴雨灾害", "暴雨",  # GB 气象水文 暴雨灾害: the statistics count it as 洪涝
        "内涝", "城市内涝", "山洪", "涝灾", "渍涝",  # everyday names of flooding
    ),
    "drought": (
        "干旱灾害", "干旱", "旱灾", "DROUGHT",  # GB 气象水文 干旱灾害; MEM 干旱
        "旱情",  # everyday
    ),
    "typhoon": (
        "台风灾害", "台风", "TYPHOON",  # GB 气象水文 台风灾害; MEM 台风
        "热带风暴",  # everyday (a weaker tropical cyclone, counted as 台风)
    ),
    "wind_hail": (
        "风雹灾害", "风雹", "HAIL", "WIND",  # MEM 风雹: 大风, 冰雹, 龙卷风 and 雷电 of severe convection
        "大风灾害", "大风",  # GB 气象水文 大风灾害
        "冰雹灾害", "冰雹",  # GB 气象水文 冰雹灾害
        "雷电灾害", "雷电", "雷击", "雷暴",  # GB 气象水文 雷电灾害
        "龙卷风", "强对流",  # everyday
    ),
    "cold": (
        "低温冷冻灾害", "低温冷冻", "低温灾害", "低温", "COLD",  # GB 气象水文 低温灾害; MEM 低温冷冻
        "冷冻", "冻害", "霜冻", "寒潮", "倒春寒",  # GB 气象水文 (冷冻害, 霜冻, 寒潮 are its kinds)
        "冰冻", "结冰", "冻雨", "冰冻灾害",  # icing: GB 气象水文 冰雪 lists it, MEM counts it as 低温冷冻
    ),
    "snow": (
        "雪灾", "暴雪", "冰雪灾害", "SNOW",  # GB 气象水文 冰雪灾害; MEM 雪灾
        "大雪", "暴风雪",  # everyday
    ),
    "sandstorm": (
        "沙尘暴灾害", "沙尘暴", "SANDSTORM",  # GB 气象水文 沙尘暴灾害; MEM 沙尘暴
        "强沙尘暴", "沙尘", "扬沙",  # everyday (weaker dust weather counted with it)
    ),
    "earthquake": (
        "地震灾害", "地震", "EARTHQUAKE", "QUAKE",  # GB 地质地震 地震灾害; MEM 地震
    ),
    "geological": (
        "地质灾害", "LANDSLIDE",  # MEM 地质灾害 (GB 地质地震类 without 地震)
        "崩塌", "滑坡", "泥石流",  # GB 地质地震: 崩塌, 滑坡, 泥石流灾害
        "地面塌陷", "地面沉降", "地裂缝",  # GB 地质地震: 地面塌陷, 地面沉降, 地裂缝灾害
        "火山",  # GB 地质地震 火山灾害: no statistics type of its own, counted with the other 地质 types
        "山体滑坡", "塌方",  # everyday
    ),
    "marine": (
        "海洋灾害", "MARINE",  # GB 海洋类; MEM 海洋灾害
        "风暴潮", "海浪", "海冰", "海啸", "赤潮",  # GB 海洋: 风暴潮, 海浪, 海冰, 海啸, 赤潮灾害
    ),
    "fire": (
        "森林草原火灾", "森林火灾", "草原火灾",  # GB 生物 森林/草原火灾 (生物灾害); MEM 森林草原火灾
        "山火", "林火", "火灾", "FIRE",  # everyday (SPEC §3.2 keeps the short 火灾)
    ),
    "biological": (
        "生物灾害", "PEST",  # GB 生物类; MEM 生物灾害
        "植物病虫害", "病虫害", "虫灾", "虫害", "蝗灾",  # GB 生物 植物病虫害
        "疫病灾害", "疫病",  # GB 生物 疫病灾害
        "鼠害", "草害",  # GB 生物: 鼠害, 草害
    ),
    "other": (
        "其他灾害",  # MEM 其他
        "高温灾害", "高温", "干热风",  # GB 气象水文 高温灾害 (干热风 is heat with dry wind): no statistics type
        "大雾灾害", "大雾",  # GB 气象水文 大雾灾害: no statistics type
        "水土流失", "风蚀沙化", "盐渍化", "石漠化",  # GB 生态环境类: no statistics type
    ),
}
