import pytest

from assistant.core.commands import match
from assistant.core.routing import Route, is_chinese, route

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
