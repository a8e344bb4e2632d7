import pytest

from assistant.core.commands import match
from assistant.core.routing import ANSWERERS, Answerer, Route, is_chinese, refers_back, route

PHRASINGS = [
    ("Read this", Route.READ),
    ("Can you read this for me?", Route.READ),
    ("read the label", Route.READ),
    ("What does it say?", Route.READ),
    ("what does the sign say", Route.READ),
    ("What's written here?", Route.READ),
    ("what is written on the box", Route.READ),
    ("What's on this page?", Route.READ),
    ("读一下", Route.READ),
    ("上面写的什么？", Route.READ),
    ("帮我念一下这封信", Route.READ),
    ("List the products and their prices.", Route.DOCUMENT),
    ("Extract the fields.", Route.DOCUMENT),
    ("itemise this receipt", Route.DOCUMENT),
    ("give me the table as JSON", Route.DOCUMENT),
    ("列出所有商品和价格", Route.DOCUMENT),
    ("提取表格里的字段", Route.DOCUMENT),
    ("What's the price?", Route.TEXT),
    ("How much is this?", Route.TEXT),
    ("When does the milk expire?", Route.TEXT),
    ("What is this product?", Route.TEXT),
    ("What's this?", Route.TEXT),
    ("Which bottle is the shampoo?", Route.TEXT),
    ("这个多少钱？", Route.TEXT),
    ("这是什么产品？", Route.TEXT),
    ("保质期到什么时候？", Route.TEXT),
    ("Is the light on?", Route.LIGHT),
    ("Are the lights on in here?", Route.LIGHT),
    ("How bright is it?", Route.LIGHT),
    ("灯开着吗？", Route.LIGHT),
    ("光线怎么样？", Route.LIGHT),
    ("What colour is this?", Route.COLOUR),
    ("what color is my shirt", Route.COLOUR),
    ("Which colour are these socks?", Route.COLOUR),
    ("这是什么颜色？", Route.COLOUR),
    ("What is in front of me?", Route.SCENE),
    ("Describe the room.", Route.SCENE),
    ("Is there a chair?", Route.SCENE),
    ("Is it the blue one?", Route.SCENE),
    ("What is on the table?", Route.SCENE),
    ("Put the cup on the table", Route.SCENE),
    ("我前面有什么？", Route.SCENE),
]


@pytest.mark.parametrize(("question", "expected"), PHRASINGS)
def test_questions_go_to_their_channel(question: str, expected: Route) -> None:
    assert route(question) is expected


def test_every_channel_has_english_and_chinese_phrasings() -> None:
    for channel in Route:
        questions = [q for q, expected in PHRASINGS if expected is channel]
        assert any(is_chinese(q) for q in questions) and any(not is_chinese(q) for q in questions), channel


@pytest.mark.parametrize("said", ["light", "Light mode, please.", "光线", "光线模式"])
def test_light_mode_is_a_command(said: str) -> None:
    assert match(said) == "light"


@pytest.mark.parametrize("said", ["Is the light on?", "right", "lighter", "what light is this"])
def test_light_questions_are_not_the_light_command(said: str) -> None:
    assert match(said) is None


# (question, a model installed, the last answer was the model's) -> kind of question, who answers it
RULES = [
    ("Is the light on?", False, False, Route.LIGHT, Answerer.MEASURE),
    ("灯开着吗？", True, True, Route.LIGHT, Answerer.MEASURE),
    ("What colour is this?", False, False, Route.COLOUR, Answerer.MEASURE),
    ("这是什么颜色？", False, True, Route.COLOUR, Answerer.MEASURE),
    ("What color is it?", True, True, Route.COLOUR, Answerer.MODEL_WITH_COLOUR),
    ("它是什么颜色？", True, False, Route.COLOUR, Answerer.MODEL_WITH_COLOUR),
    ("Read this.", True, False, Route.READ, Answerer.OCR),
    ("读一下", False, True, Route.READ, Answerer.OCR),
    ("What does it say?", True, False, Route.READ, Answerer.OCR),
    ("What does it say?", True, True, Route.TEXT, Answerer.MODEL_WITH_TEXT),
    ("那个上面写的什么？", True, True, Route.TEXT, Answerer.MODEL_WITH_TEXT),
    ("What does it say?", False, True, Route.TEXT, Answerer.FACTS),
    ("List the products and their prices.", True, True, Route.DOCUMENT, Answerer.OCR),
    ("列出所有商品和价格", False, False, Route.DOCUMENT, Answerer.OCR),
    ("What's the price?", True, False, Route.TEXT, Answerer.MODEL_WITH_TEXT),
    ("这个多少钱？", False, False, Route.TEXT, Answerer.FACTS),
    ("What is in front of me?", True, False, Route.SCENE, Answerer.MODEL),
    ("它的毛色呢？", True, True, Route.SCENE, Answerer.MODEL),
    ("我前面有什么？", False, False, Route.SCENE, Answerer.FACTS),
]


@pytest.mark.parametrize(
    ("question", "model", "after_model", "kind", "answerer"),
    RULES,
    ids=[f"{q}-{'model' if m else 'no model'}-{'after model' if a else 'first'}" for q, m, a, _, _ in RULES],
)
def test_who_answers_follows_the_table(
    question: str, model: bool, after_model: bool, kind: Route, answerer: Answerer
) -> None:
    assert route(question, after_model=after_model) is kind
    assert ANSWERERS[(kind, model)] is answerer


def test_the_table_covers_every_kind_with_and_without_a_model() -> None:
    assert set(ANSWERERS) == {(kind, model) for kind in Route for model in (False, True)}
    assert {answerer for answerer in ANSWERERS.values()} == set(Answerer)
    assert {(kind, model) for _, model, _, kind, _ in RULES} == set(ANSWERERS), "a test for every row"


@pytest.mark.parametrize(
    ("question", "back"),
    [
        ("What color is it?", True),
        ("Is that one bigger?", True),
        ("And the other one?", True),
        ("它是什么颜色？", True),
        ("那个多少钱？", True),
        ("What is in front of me?", False),
        ("Read the sign.", False),
        ("前面有什么？", False),
    ],
)
def test_questions_that_refer_back(question: str, back: bool) -> None:
    assert refers_back(question) is back
