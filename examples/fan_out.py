"""Make thumbnails for a batch of uploaded photos: a fan-out over the photos, then a fan-in.

The workflow runs one branch per photo with ``Map``, at most three at a time. Each branch
resizes its photo in a step that retries when the image service is briefly unavailable,
and gives up at once on a corrupt file. A few corrupt photos are tolerated (up to a
quarter of the batch); the album is then published with the thumbnails that were made and
a list of the photos that were skipped. More failures than that stop the batch early, and
the album is not published.

Run it with ``python examples/fan_out.py``: three scenarios run on the embedded emulator,
with the image service played by a small in-memory stand-in. Deploy it by pointing a
durable Lambda function's handler setting at ``fan_out.handler``.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Generator
from typing import Any

import attrs

from orchestra import (
    BatchResult,
    Completion,
    CompletionReason,
    Duration,
    Map,
    RetryPolicy,
    Step,
    lambda_handler,
)
from orchestra.testing import LocalRunner, RunResult

MAX_IN_FLIGHT = 3
THUMBNAIL_WIDTH = 256


class CorruptImageError(Exception):
    """The photo cannot be decoded: retrying will not help."""


@attrs.frozen
class Thumbnail:
    photo: str
    width: int
    url: str


class ImageService:
    """Stands in for an image-resizing API: records calls, fails on demand."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.calls: list[str] = []
        self.in_flight = 0
        self.peak = 0
        self.corrupt: set[str] = set()
        self.busy_once: set[str] = set()  # answer "unavailable" to the first call only

    def reset(self, *, corrupt: set[str], busy_once: set[str]) -> None:
        self.calls.clear()
        self.in_flight = self.peak = 0
        self.corrupt, self.busy_once = set(corrupt), set(busy_once)

    def resize(self, photo: str, width: int) -> str:
        with self.lock:
            self.calls.append(photo)
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
        try:
            time.sleep(0.02)  # the real service takes a moment
            if photo in self.busy_once:
                self.busy_once.discard(photo)
                raise ConnectionError("image service unavailable, try again")
            if photo in self.corrupt:
                raise CorruptImageError(f"{photo} is not a valid image")
            return f"https://cdn.example.com/{width}/{photo}"
        finally:
            with self.lock:
                self.in_flight -= 1


IMAGES = ImageService()

#: Retry only the service's transient failures; a corrupt image fails at once.
RESIZE_RETRY = RetryPolicy(
    max_attempts=4, initial_delay=Duration.seconds(10), retryable_error_types=[ConnectionError]
)


def resize(photo: str, width: int) -> Thumbnail:
    return Thumbnail(photo, width, IMAGES.resize(photo, width))


def make_thumbnail(photo: str, index: int) -> Generator[Any, Any, Thumbnail]:
    """One branch per photo: a sub-workflow, so its step can have its own retry policy."""
    step = Step(resize, photo, THUMBNAIL_WIDTH, name=f"resize {photo}", retry=RESIZE_RETRY)
    thumbnail: Thumbnail = yield step
    return thumbnail


def publish(album: str, thumbnails: list[Thumbnail]) -> str:
    return f"album {album} published with {len(thumbnails)} thumbnails"


def make_album(upload: dict[str, Any]) -> Generator[Any, Any, dict[str, Any]]:
    photos = upload["photos"]
    thumbs: BatchResult[Thumbnail] = yield Map(
        photos,
        make_thumbnail,
        name="thumbnails",
        max_concurrency=MAX_IN_FLIGHT,
        item_namer=lambda photo, index: f"thumbnail {photo}",
        completion=Completion(tolerated_failure_percentage=25),
    )
    skipped = [photos[item.index] for item in thumbs.failed()]
    if thumbs.completion_reason is CompletionReason.FAILURE_TOLERANCE_EXCEEDED:
        bad = f"{len(skipped)} of {len(photos)}"
        return {
            "published": False,
            "summary": f"too many bad photos ({bad}), album not published",
            "skipped": skipped,
            "not_started": len(photos) - thumbs.total_count,
        }
    summary = yield Step(publish, upload["album"], thumbs.values())
    return {
        "published": True,
        "summary": summary,
        "thumbnails": [t.url for t in thumbs.values()],
        "skipped": skipped,
    }


handler = lambda_handler(make_album)  # the deployable Lambda entry point


PHOTOS = [f"IMG_{n:04}.jpg" for n in range(1, 9)]

SCENARIOS: dict[str, dict[str, set[str]]] = {
    "all good, one retry": {"corrupt": set(), "busy_once": {"IMG_0003.jpg"}},
    "two corrupt photos skipped": {
        "corrupt": {"IMG_0002.jpg", "IMG_0007.jpg"},
        "busy_once": set(),
    },
    "too many corrupt photos": {
        "corrupt": {"IMG_0001.jpg", "IMG_0002.jpg", "IMG_0003.jpg"},
        "busy_once": set(),
    },
}


def run_scenario(title: str) -> RunResult:
    """Make the album of :data:`PHOTOS` with the image service set up as ``title`` says."""
    IMAGES.reset(**SCENARIOS[title])
    return LocalRunner(make_album).run({"album": "holidays", "photos": PHOTOS})


def main() -> int:
    for title in SCENARIOS:
        run = run_scenario(title)
        print(f"--- {title}: {run.status} in {run.invocations} invocations")
        if run.status != "SUCCEEDED":
            print(f"    error: {run.error}")
            return 1
        result = run.result
        print(f"    {result['summary']}")
        print(f"    resize calls: {len(IMAGES.calls)}, at most {IMAGES.peak} at once")
        if result["skipped"]:
            print(f"    skipped: {', '.join(result['skipped'])}")
        if result.get("not_started"):
            print(f"    not started: {result['not_started']} photos")
    return 0


if __name__ == "__main__":
    sys.exit(main())
