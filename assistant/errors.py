"""One exception family. Every message is a short sentence fit to be spoken to the user; every class has a `code`
that a program can act on (the HTTP layer maps codes to statuses in one table, `serve/app.py`'s STATUS).

    AssistantError                  internal       something went wrong inside the assistant
    ├── BadInputError               bad_input      a file, field or request the assistant cannot use
    │   ├── EmptyQuestionError      empty_question there is no question to answer
    │   ├── TooLargeError           too_large      over a cap: picture pixels, recording length, body size
    │   ├── ForbiddenError          forbidden      a path outside the folders the service may read
    │   └── NotFoundError           not_found      no such session, audio or picture
    ├── UnauthorizedError           unauthorized   the service's token is missing or wrong
    ├── NotHeardError               not_heard      the recording held no question
    │   └── NothingHeardError       nothing_heard  silence: nobody spoke
    ├── NoPictureError              no_picture     no frame from the camera or the request
    ├── NothingToDescribeError      no_earlier_picture  "more detail" before any picture
    ├── NowhereToSaveError          nowhere_to_save     "save settings" with no config file
    ├── NoAnswerError               no_answer      the model wrote nothing that could be spoken
    ├── ModelError                  model          a model file or folder is missing or cannot be loaded
    │   ├── NoVisionModelError      no_vision_model     no vision model is installed, or it failed to load
    │   ├── DownloadError           download       a model could not be fetched
    │   └── ReadingOffError         reading_off    text reading is turned off
    ├── DeviceError                 device         a microphone, speaker or camera is missing or failed
    │   └── VideoEndedError         video_ended    a video standing in for the camera, played at its pace, ended
    ├── BusyError                   busy           the queue is full; `retry_after_s` says when to try again
    │   └── RateLimitedError        rate_limited   one client sent more requests than the service takes a minute
    └── TimedOutError               timed_out      the answer took longer than the service allows
"""

from __future__ import annotations


class AssistantError(Exception):
    """An error the user hears about. `message` is a plain sentence; `fix` says what to do, if anything."""

    code = "internal"

    def __init__(self, message: str, fix: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix

    def spoken(self) -> str:
        return f"{self.message} {self.fix}".strip()


class BadInputError(AssistantError):
    code = "bad_input"


class EmptyQuestionError(BadInputError):
    code = "empty_question"


class TooLargeError(BadInputError):
    code = "too_large"


class ForbiddenError(BadInputError):
    code = "forbidden"


class NotFoundError(BadInputError):
    code = "not_found"


class UnauthorizedError(AssistantError):
    code = "unauthorized"


class NotHeardError(AssistantError):
    code = "not_heard"


class NothingHeardError(NotHeardError):
    code = "nothing_heard"


class NoPictureError(AssistantError):
    code = "no_picture"


class NothingToDescribeError(AssistantError):
    code = "no_earlier_picture"


class NowhereToSaveError(AssistantError):
    code = "nowhere_to_save"


class NoAnswerError(AssistantError):
    code = "no_answer"


class ModelError(AssistantError):
    code = "model"


class NoVisionModelError(ModelError):
    code = "no_vision_model"


class DownloadError(ModelError):
    code = "download"


class ReadingOffError(ModelError):
    code = "reading_off"


class DeviceError(AssistantError):
    code = "device"


class VideoEndedError(DeviceError):
    """A video that stands in for the camera, played at its own pace, has come to its end."""

    code = "video_ended"


class BusyError(AssistantError):
    code = "busy"

    def __init__(self, message: str, retry_after_s: int, fix: str = "") -> None:
        super().__init__(message, fix)
        self.retry_after_s = retry_after_s


class RateLimitedError(BusyError):
    code = "rate_limited"


class TimedOutError(AssistantError):
    code = "timed_out"
