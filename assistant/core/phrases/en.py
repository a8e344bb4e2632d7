"""English."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from assistant.core.commands import COMMANDS
from assistant.core.phrases.book import Phrases
from assistant.core.types import Colour

_MOVES = {"left": "left", "right": "right", "top": "up", "bottom": "down"}
_NOUNS = {"lines": "line", "fields": "field", "table": "item"}


class English(Phrases):
    language = "en"
    sentence_end = "."

    no_vision_model = "I can't answer about what is around you yet: no vision model is installed."
    no_vision_model_fix = (
        "When you are online, run 'assistant models pull', or place a model and its mmproj file in the models folder."
    )
    needs_vision_model = (
        "A full description needs the vision model, which is not installed: run 'assistant models pull' when online."
    )
    no_answer = "I have no answer for that. Please ask again."
    unexpected = "Sorry, something went wrong inside the assistant. Please try again."
    empty_question = "The question is empty. Please ask something."
    no_picture = "I can't see: there is no picture from the camera."
    no_picture_given = "I can't see: no picture was given."
    reading_off = "I can't read text: reading is turned off."
    reading_off_fix = "Set ocr.enabled to true."
    nothing_heard = "I didn't hear a question."
    not_caught = "I didn't catch that. Please ask again."
    nothing_to_describe = "There is no picture to describe yet. Ask me about something first."
    nowhere_to_save = "I have nowhere to save settings."
    error_by_code: Mapping[str, str] = MappingProxyType({})
    """English errors are written in English: each is said as it is."""

    keys_help = (
        "Ready. Press Space or Enter to ask, and press it again when you have finished. "
        "While I speak, Space asks again and Escape stops me. Press r to read text live, and q to quit."
    )
    ready = "Ready."
    loading = "Loading the models."
    listening = "Listening."
    thinking = "Thinking."
    goodbye = "Goodbye."
    reading_live = "Reading live."
    you_asked = "You asked: "
    sorry = "Sorry: "

    answer_in = ""
    more_detail_question = "Describe it again, in more detail."
    text_in_picture = "Text found in the image, exact: "

    nothing_said_yet = "I haven't said anything yet."
    stopped = "Stopped."
    faster = "Faster."
    slower = "Slower."
    fastest_already = "This is already my fastest."
    slowest_already = "This is already my slowest."
    brief = "I will keep my answers short."
    new_conversation = "Starting a new conversation. I have forgotten what we said."
    light_mode = "Light mode: the higher the tone, the brighter the light. Press the key again to stop."
    help = (
        "You can ask me anything about what the camera sees. You can also say: "
        + ", ".join(command.summary for command in COMMANDS)
        + "."
    )

    def saved_rate(self, rate: float) -> str:
        return f"Saved. From now on I will speak at {rate:g} times my usual speed."

    too_dark = "It is too dark to see. Turn on a light, or point the camera at something lit."
    washed_out = "The picture is washed out: turn away from the bright light."
    blurred = "The picture is blurred: hold the camera still."
    no_text_hint = "I found no text. Hold the text facing the camera, about 30 centimetres away."
    text_too_big = "The text goes past the picture: move the camera back a little."
    no_text_seen = "I see no text."
    nothing_read = "Nothing could be read."
    unreadable = "unreadable"
    light_words = ("dark", "dim", "bright", "very bright")

    def light(self, level: float) -> str:
        word = self.light_word(level)
        return f"It is {word} here." if word in {"dark", "dim"} else f"The light is {word}."

    def colour(self, colour: Colour) -> str:
        return f"The middle of the picture is {colour.english}."

    def measured_colour(self, colour: Colour, dark: bool) -> str:
        unsure = " (it is very dark, so this may be wrong)" if dark else ""
        return f"Measured colour in the middle of the picture: {colour.english}{unsure}."

    def colour_in_the_dark(self, sentence: str) -> str:
        return f"It is very dark, so I may be wrong. {sentence}"

    def faces(self, count: int) -> str:
        if count == 0:
            return "I see no faces."
        return "I see one face." if count == 1 else f"I see {count} faces."

    def can_read(self, text: str) -> str:
        return "I can read: " + text

    def cut_off(self, edges: list[str]) -> str:
        where = " and ".join(edges)
        way = " and ".join(_MOVES[edge] for edge in edges)
        return f"Text is cut off at the {where} edge: move the camera a little {way}."

    def there_is_text(self, text: str, more: bool) -> str:
        return f"There is text: {text}{', and more' if more else ''}."

    def heard_as(self, question: str) -> str:
        return f"I heard: {question.rstrip('.?!')}."

    def already_said(self, text: str) -> str:
        return f'The user has just heard this, so do not say it again: "{text}"'

    def unsure_of(self, items: list[str]) -> str:
        them = "it" if len(items) == 1 else "them"
        return f"I am not sure of {_listed(items)}: I did not read {them} in the picture."

    def read_instead(self, lines: list[str]) -> str:
        return "I am not sure of that. I read: " + "; ".join(lines) + "."

    live_started = "Reading live: I will read new text as it comes into view. Press a key to stop."
    live_stopped = "Live reading stopped."
    live_quiet = "No new text for a minute: live reading stopped."

    def field(self, key: str, value: str) -> str:
        return f"{key}: {value}"

    def unreadable_cell(self, key: str | None) -> str:
        return self.unreadable if key is None else f"{key} {self.unreadable}"

    def document(self, kind: str, count: int, shown: list[str], more: int) -> str:
        noun = _NOUNS[kind] + ("" if count == 1 else "s")
        rest = f"; and {more} more" if more > 0 else ""
        return f"{count} {noun}: {'; '.join(shown)}{rest}."


def _listed(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]
