"""Which channel answers a question: reading (OCR), a document as JSON, light, colour, or the vision model."""

from __future__ import annotations

import re
from enum import StrEnum


class Route(StrEnum):
    READ = "read"
    """Read the text out, verbatim and in full: OCR alone."""
    DOCUMENT = "document"
    """Rows and columns, or fields, as JSON built from the OCR layout."""
    TEXT = "text"
    """A question about text or a product: the vision model, given the OCR text as exact context."""
    LIGHT = "light"
    COLOUR = "colour"
    SCENE = "scene"
    """Anything else: the vision model alone."""


class Answerer(StrEnum):
    MEASURE = "measure"
    """The picture's measured light or colour, in words."""
    OCR = "ocr"
    """The text read, verbatim, or the document built from it."""
    MODEL = "model"
    """The vision model, with the conversation."""
    MODEL_WITH_TEXT = "model with text"
    """The vision model, given the text OCR read as exact context."""
    MODEL_WITH_COLOUR = "model with colour"
    """The vision model, given the colour measured in the middle of the picture as context."""
    FACTS = "facts"
    """Without a model: what is known for sure (text, light, colour, faces) and that a description needs one."""


ANSWERERS: dict[tuple[Route, bool], Answerer] = {
    (Route.LIGHT, False): Answerer.MEASURE,
    (Route.LIGHT, True): Answerer.MEASURE,
    (Route.COLOUR, False): Answerer.MEASURE,
    (Route.COLOUR, True): Answerer.MODEL_WITH_COLOUR,
    (Route.READ, False): Answerer.OCR,
    (Route.READ, True): Answerer.OCR,
    (Route.DOCUMENT, False): Answerer.OCR,
    (Route.DOCUMENT, True): Answerer.OCR,
    (Route.TEXT, False): Answerer.FACTS,
    (Route.TEXT, True): Answerer.MODEL_WITH_TEXT,
    (Route.SCENE, False): Answerer.FACTS,
    (Route.SCENE, True): Answerer.MODEL,
}
"""Who answers each kind of question, (kind, whether a vision model is installed) -> answerer. Light is always
measured; colour is measured without a model, and with one the model answers, given the measurement, since "it"
may be the thing it named rather than the middle of the picture; reading is always OCR's, never the model's."""


_LIGHT = re.compile(
    r"\b(is the lights? (on|off)|are the lights (on|off)|lights? (on|off)|how (bright|dark|light) is it|"
    r"is it (dark|bright|light) (here|in here)|light level|brightness|how much light)\b"
)
_LIGHT_ZH = ("灯开着", "灯亮", "灯关", "开灯了", "关灯了", "亮不亮", "有多亮", "暗不暗", "光线怎么样", "光线强")
_COLOUR = re.compile(r"\b(what|which) colou?rs?\b|\bcolou?r (is|of)\b")
_COLOUR_ZH = ("什么颜色", "哪种颜色", "颜色是", "的颜色")
_DOCUMENT = re.compile(
    r"\b(list|extract|tabulate|itemi[sz]e|json)\b|\b(the|all|its) (fields|columns|rows)\b|"
    r"\bfill (in|out) the fields\b"
)
_DOCUMENT_ZH = ("列出", "列一下", "提取", "表格", "字段", "清单", "每一项")
_READ = re.compile(
    r"\bread\b|\bwhat does (it|this|that|the [\w ]+?) say\b|\bwhat('s| is) written\b|"
    r"\bwhat('s| is) on (it|this|that|the) (page|label|sign|screen|paper|note|card|letter|receipt|display)\b|"
    r"\bwhat (text|words)\b|\bwhat do(es)? (the|this|that) [\w ]*?(say|read)\b"
)
_READ_ZH = ("读", "念", "写的什么", "写了什么", "写着什么", "上面写", "什么字", "文字")
_TEXT = re.compile(
    r"\b(price|prices|cost|costs|how much|expir\w*|best before|use by|date|ingredients?|label|sign|menu|"
    r"phone number|address|brand|product|total|receipt|bill|dose|dosage|instructions|what is this|what's this|"
    r"which (one|bottle|can|box|button))\b"
)
_TEXT_ZH = ("价格", "多少钱", "日期", "保质期", "标签", "产品", "牌子", "品牌", "这是什么", "说明", "成分", "菜单")
CHINESE_CHARACTERS = "\u3400-\u9fff\uf900-\ufaff"
"""The ranges of Chinese characters, for a regular expression's character class."""
_CJK = re.compile(f"[{CHINESE_CHARACTERS}]")


def is_chinese(text: str) -> bool:
    """Whether the question is in Chinese: then so is the answer."""
    return bool(_CJK.search(text))


_LATIN_WORD = re.compile(r"[A-Za-z]+(?:['’][A-Za-z]+)?")


def main_language(text: str) -> str:
    """zh or en: the language most of the text is in, counting each Chinese character and each English word as one
    syllable's worth. A sentence in both is spoken by the voice of this one."""
    chinese = len(_CJK.findall(text))
    return "zh" if chinese and chinese >= len(_LATIN_WORD.findall(text)) else "en"


_BACK = re.compile(r"\b(it|its|it's|that one|this one|the other one|the other|them|they|those ones)\b")
_BACK_ZH = ("它", "那个", "这个", "另一个", "它们", "那些")


def refers_back(question: str) -> bool:
    """Whether the question points at something said before: "it", "that one", "the other one", 它, 那个."""
    return bool(_BACK.search(question.lower())) or any(word in question for word in _BACK_ZH)


def route(question: str, after_model: bool = False) -> Route:
    """The kind of question, by its wording. `after_model`: the last answer was the model's; then a question
    that refers back to it and asks for reading is about the thing it named, so the model answers, given the text
    read as exact context, rather than OCR reading out the whole picture."""
    channel = _by_wording(question)
    if channel is Route.READ and after_model and refers_back(question):
        return Route.TEXT
    return channel


def _by_wording(question: str) -> Route:
    text = question.lower()
    for pattern, words, name in (
        (_LIGHT, _LIGHT_ZH, Route.LIGHT),
        (_COLOUR, _COLOUR_ZH, Route.COLOUR),
        (_DOCUMENT, _DOCUMENT_ZH, Route.DOCUMENT),
        (_READ, _READ_ZH, Route.READ),
        (_TEXT, _TEXT_ZH, Route.TEXT),
    ):
        if pattern.search(text) or any(word in question for word in words):
            return name
    return Route.SCENE


_SIGHT = re.compile(
    r"\b(see|look|looks|looking|front|read|say|says|written|label|sign|colou?r|wearing|this|that|these|those|"
    r"here|there|holding|hand|picture|photo|image|camera|scene|room|left|right|describe|blue|red|green|"
    r"which one|what is it|what's it)\b"
)
_SIGHT_ZH = ("看", "读", "前面", "颜色", "这是", "这个", "那个", "写", "图片", "照片", "画面", "这张", "描述")


def needs_sight(question: str) -> bool:
    """Whether the question is about what is in view, so that it cannot be answered without a picture."""
    return bool(_SIGHT.search(question.lower())) or any(word in question for word in _SIGHT_ZH)


_DETAIL = re.compile(r"\b(in (more )?detail|more details?|detailed|describe everything|every detail)\b")
_DETAIL_ZH = ("详细", "仔细")


def asks_for_detail(question: str) -> bool:
    """Whether the question asks for a fuller look than a first one."""
    return bool(_DETAIL.search(question.lower())) or any(word in question for word in _DETAIL_ZH)
