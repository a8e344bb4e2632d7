"""中文 (Mandarin, simplified characters)."""

from __future__ import annotations

from types import MappingProxyType

from assistant.core.commands import COMMANDS
from assistant.core.phrases.book import Phrases
from assistant.core.types import Colour

_MOVES = {"left": "向左", "right": "向右", "top": "向上", "bottom": "向下"}
_NOUNS = {"lines": "行文字", "fields": "个字段", "table": "项"}


class Chinese(Phrases):
    language = "zh"
    sentence_end = "。"

    no_vision_model = "我还不能回答周围有什么：没有安装视觉模型。"
    no_vision_model_fix = "联网时运行 'assistant models pull'，或者把模型和它的 mmproj 文件放进 models 文件夹。"
    needs_vision_model = "要完整描述画面，需要安装视觉模型。"
    no_answer = "这个问题我没有答案，请再问一次。"
    unexpected = "抱歉，助手内部出了问题，请再试一次。"
    empty_question = "问题是空的，请问点什么。"
    no_picture = "我看不到：摄像头没有画面。"
    no_picture_given = "我看不到：没有收到图片。"
    reading_off = "我不能读文字：文字识别已关闭。"
    reading_off_fix = "把 ocr.enabled 设为 true。"
    nothing_heard = "我没有听到问题。"
    not_caught = "我没听清，请再问一次。"
    nothing_to_describe = "还没有可以描述的画面，请先问我一个问题。"
    nowhere_to_save = "没有地方保存设置。"
    error_by_code = MappingProxyType(
        {
            "internal": unexpected,
            "bad_input": "这个请求、文件或设置我用不了，请检查后再试。",
            "empty_question": empty_question,
            "too_large": "太大了：图片、录音或请求超过了上限。",
            "forbidden": "这个位置的图片我不能打开。",
            "not_found": "找不到这个对话、音频或图片。",
            "unauthorized": "这个服务需要令牌：请在地址后面加上 ?token=…。",
            "not_heard": not_caught,
            "nothing_heard": nothing_heard,
            "no_picture": no_picture,
            "no_earlier_picture": nothing_to_describe,
            "nowhere_to_save": nowhere_to_save,
            "no_answer": no_answer,
            "model": "有一个模型缺失或无法加载。运行 'assistant doctor' 可以看到是哪个，以及怎么修复。",
            "no_vision_model": f"{no_vision_model} {no_vision_model_fix}",
            "download": "模型下载失败，请联网后再试。",
            "reading_off": f"{reading_off} {reading_off_fix}",
            "device": "麦克风、扬声器或摄像头不可用。运行 'assistant doctor' 可以看到原因。",
            "video_ended": "代替摄像头的视频已经放完了。",
            "busy": "我现在很忙，请稍后再试。",
            "rate_limited": "请求太多了，请过一会儿再试。",
            "timed_out": "回答用的时间太长，已经停止了，请再试一次。",
        }
    )

    keys_help = (
        "准备好了。按空格键或回车键提问，说完再按一次。我说话时，按空格键重新提问，按 Esc 键让我停下。"
        "按 r 键实时朗读文字，按 q 键退出。"
    )
    ready = "准备好了。"
    loading = "正在加载模型。"
    listening = "在听。"
    thinking = "在想。"
    goodbye = "再见。"
    reading_live = "正在实时朗读。"
    you_asked = "你问的是："
    sorry = "抱歉："

    answer_in = "请用简体中文回答。"
    more_detail_question = "请更详细地再描述一遍。"
    text_in_picture = "图中识别到的文字（原文）："

    nothing_said_yet = "我还什么都没说。"
    stopped = "已停止。"
    faster = "快一点了。"
    slower = "慢一点了。"
    fastest_already = "已经是最快了。"
    slowest_already = "已经是最慢了。"
    brief = "我会简短回答。"
    new_conversation = "开始新对话，之前说的我都忘了。"
    light_mode = "光线模式：音调越高，光线越亮。再按一次键停止。"
    help = (
        "你可以问我摄像头看到的任何东西。你也可以说："
        + "、".join(next(phrase for phrase in command.phrases if not phrase.isascii()) for command in COMMANDS)
        + "。"
    )

    def saved_rate(self, rate: float) -> str:
        return f"已保存。以后我会用{rate:g}倍的语速说话。"

    too_dark = "太暗了，看不清。请打开灯，或者把镜头对准有光的地方。"
    washed_out = "画面太亮了，请避开强光。"
    blurred = "画面模糊，请拿稳。"
    no_text_hint = "我没有找到文字。请把文字对准镜头，距离大约三十厘米。"
    text_too_big = "文字超出了画面，请把镜头拿远一点。"
    no_text_seen = "我没有看到文字。"
    nothing_read = "没有读到内容。"
    unreadable = "看不清"
    light_words = ("很暗", "昏暗", "明亮", "非常亮")

    def light(self, level: float) -> str:
        return f"光线{self.light_word(level)}。"

    def colour(self, colour: Colour) -> str:
        return f"中间的颜色是{colour.chinese}。"

    def measured_colour(self, colour: Colour, dark: bool) -> str:
        return f"画面中间测得的颜色：{colour.chinese}{'（太暗了，可能不准）' if dark else ''}。"

    def colour_in_the_dark(self, sentence: str) -> str:
        return "太暗了，颜色可能不准。" + sentence

    def faces(self, count: int) -> str:
        return f"我看到{count}张脸。" if count else "我没有看到人脸。"

    def can_read(self, text: str) -> str:
        return "我读到的文字：" + text

    def cut_off(self, edges: list[str]) -> str:
        return "文字在边上被切掉了，请把镜头" + "、".join(_MOVES[edge] for edge in edges) + "移一点。"

    def there_is_text(self, text: str, more: bool) -> str:
        return f"有文字：{text}{'，还有更多' if more else ''}。"

    def heard_as(self, question: str) -> str:
        return f"我听到的是：{question.rstrip('。？！?!.')}。"

    def already_said(self, text: str) -> str:
        return f"用户刚刚已经听到这些，不要再说一遍：“{text}”"

    def unsure_of(self, items: list[str]) -> str:
        return f"我不确定{'、'.join(items)}：我没有在画面里读到。"

    def read_instead(self, lines: list[str]) -> str:
        return "这一点我不确定。我读到的是：" + "；".join(lines) + "。"

    live_started = "开始实时朗读：新的文字一出现我就读。按任意键停止。"
    live_stopped = "实时朗读已停止。"
    live_quiet = "一分钟没有新文字，实时朗读已停止。"

    def field(self, key: str, value: str) -> str:
        return f"{key}：{value}"

    def unreadable_cell(self, key: str | None) -> str:
        return self.unreadable if key is None else f"{key}{self.unreadable}"

    def document(self, kind: str, count: int, shown: list[str], more: int) -> str:
        rest = f"；还有{more}项" if more > 0 else ""
        return f"{count}{_NOUNS[kind]}：{'；'.join(shown)}{rest}。"
