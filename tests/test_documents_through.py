"""The write-up's price list as real pictures, with and without a header row, in Chinese and in English: rendered,
read by the real OCR, and asked about from the command line (`assistant ask --text … --image …`, the JSON from the
turn log) and through `POST /infer` (`{"text", "document"}`). The JSON must be exactly the list's rows."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient
from helpers import running_service
from renders import cjk_font_path, render

from assistant.cli.main import main
from assistant.config import Config
from assistant.core.documents import extract, summary
from assistant.core.phrases import BOOKS
from assistant.see.ocr import TextReader
from assistant.serve.app import create_app

CHINESE = "请列出表格中的三项产品名称及其价格。"
"""The write-up's question."""
ENGLISH = "List the three products and their prices."
SHOP = [("笔记本电脑", "5999元"), ("智能手机", "3999元"), ("平板电脑", "2999元")]
"""The write-up's document: three products and their prices."""
SHOP_EN = [("Laptop", "RMB 5999"), ("Smartphone", "RMB 3999"), ("Tablet", "RMB 2999")]
"""The same document in English, its prices still in yuan."""


@dataclass(frozen=True)
class Case:
    rows: list[tuple[str, str]]
    header: tuple[str, str] | None
    one_line: bool
    """Item and price close together, so that the OCR reads each row as one line ("笔记本电脑 5999元")."""
    question: str
    keys: tuple[str, str]

    @property
    def expected(self) -> list[dict[str, str]]:
        return [dict(zip(self.keys, row, strict=True)) for row in self.rows]

    @property
    def answer(self) -> str:
        parts = [f"{item}, {price}" for item, price in self.rows]
        return f"3项：{'；'.join(parts)}。" if self.question == CHINESE else f"3 items: {'; '.join(parts)}."

    def picture(self) -> np.ndarray:
        """The list at 52 pixels in a CJK font on a 1280x720 page. The OCR reads every case right at every size from
        40 to 66; "$3999" instead of "RMB 3999" it reads upside down, as "666E$", at some sizes."""
        rows = ([self.header] if self.header else []) + self.rows
        if self.one_line:
            pieces = [(f"{item} {price}", 200, 150 + i * 100) for i, (item, price) in enumerate(rows)]
        else:
            pieces = [p for i, (a, b) in enumerate(rows) for p in ((a, 200, 150 + i * 100), (b, 800, 150 + i * 100))]
        font = cjk_font_path()
        assert font is not None, "no Chinese font: run ./setup.sh (it installs fonts-wqy-microhei)"
        return render(pieces, 52, font_path=font)


CASES = {
    "zh-no-header": Case(SHOP, None, False, CHINESE, ("名称", "价格")),
    "zh-no-header-one-line-a-row": Case(SHOP, None, True, CHINESE, ("名称", "价格")),
    "zh-header": Case(SHOP, ("产品", "价格"), False, CHINESE, ("产品", "价格")),
    "zh-document-asked-in-english": Case(SHOP, None, True, ENGLISH, ("item", "price")),
    "en-no-header": Case(SHOP_EN, None, False, ENGLISH, ("item", "price")),
    "en-no-header-one-line-a-row": Case(SHOP_EN, None, True, ENGLISH, ("item", "price")),
    "en-header": Case(SHOP_EN, ("Product", "Price"), False, ENGLISH, ("Product", "Price")),
    "en-document-asked-in-chinese": Case(SHOP_EN, None, False, CHINESE, ("名称", "价格")),
}
"""What the JSON must be, for each picture and question."""


def test_the_write_ups_example_gives_the_write_ups_answer_with_our_field_names() -> None:
    assert CASES["zh-no-header"].expected == [
        {"名称": "笔记本电脑", "价格": "5999元"},
        {"名称": "智能手机", "价格": "3999元"},
        {"名称": "平板电脑", "价格": "2999元"},
    ]
    assert CASES["en-no-header"].expected == [
        {"item": "Laptop", "price": "RMB 5999"},
        {"item": "Smartphone", "price": "RMB 3999"},
        {"item": "Tablet", "price": "RMB 2999"},
    ]


@pytest.mark.slow
@pytest.mark.parametrize("name", CASES)
def test_the_real_ocr_reads_the_list_into_exactly_its_rows(reader: TextReader, name: str) -> None:
    case = CASES[name]
    document = extract(reader.read(case.picture()), case.question)
    assert document.kind == "table"
    assert json.loads(document.to_json()) == case.expected
    assert document.unreadable == []
    assert summary(document, BOOKS["zh" if case.question == CHINESE else "en"]) == case.answer


@pytest.mark.slow
@pytest.mark.parametrize("name", CASES)
def test_ask_from_the_command_line_logs_exactly_the_rows(
    tmp_path: Path, config_file: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    case = CASES[name]
    image, log = tmp_path / "list.png", tmp_path / "turns.jsonl"
    cv2.imwrite(str(image), case.picture())
    code = main(
        ["ask", "--config", str(config_file), "--text", case.question, "--image", str(image)]
        + ["--out", str(tmp_path / "answer.wav"), "--log-turns", str(log)]
    )
    assert code == 0
    assert case.answer in capsys.readouterr().out
    [turn] = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    assert turn["route"] == "document"
    assert turn["document"] == case.expected


@pytest.fixture(scope="module")
def client(stack_config: Config) -> Iterator[TestClient]:
    with running_service(stack_config) as service:
        yield TestClient(create_app(service))


@pytest.mark.slow
@pytest.mark.parametrize("name", CASES)
def test_infer_answers_exactly_the_rows(client: TestClient, name: str) -> None:
    case = CASES[name]
    png = cv2.imencode(".png", case.picture())[1].tobytes()
    reply = client.post("/infer", json={"prompt": case.question, "image_base64": base64.b64encode(png).decode()})
    assert reply.status_code == 200
    assert reply.json() == {"text": case.answer, "document": case.expected}
    upload = client.post("/infer", data={"prompt": case.question}, files={"image": ("list.png", png, "image/png")})
    assert upload.json() == {"text": case.answer, "document": case.expected}


@pytest.mark.slow
def test_a_damaged_cell_is_null_in_the_reply_and_named_as_unreadable(client: TestClient) -> None:
    prices = [("Product", "Price"), ("Apple", "$1.20"), ("Bread", "$2.50"), ("Milk", "$0.99")]
    image = render(
        [piece for i, (a, b) in enumerate(prices) for piece in ((a, 100, 120 + i * 90), (b, 700, 120 + i * 90))], 40
    )
    image[290:370, 690:900] = cv2.GaussianBlur(image[290:370, 690:900], (0, 0), 7)  # Bread's price, smudged
    picture = base64.b64encode(cv2.imencode(".png", image)[1].tobytes()).decode()
    reply = client.post("/infer", json={"prompt": "List the products and their prices.", "image_base64": picture})
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["document"] == [
        {"Product": "Apple", "Price": "$1.20"},
        {"Product": "Bread", "Price": None},
        {"Product": "Milk", "Price": "$0.99"},
    ]
    assert body["unreadable"] == ["row 2, Price"]
    assert "Bread, Price unreadable" in body["text"]
