"""neonize message events translated and published per second, on one core.

    .venv/bin/python bench/events.py [--events 1000] [--seconds 2] [--cpu 0]

A corpus of real neonize `MessageEv`s (1:1 and group texts, our own messages, replies, captioned
photos, reactions) is serialized once, as Go hands them over. Each path then runs over those
bytes for `--seconds` on one pinned core and prints neonize events per second beside the
baseline that only decodes them (`MessageEv.FromString`, what neonize's callback does before
any handler runs):

- decode + translate: `sessions_app.engines.neonize_events.translate`;
- + publish: `sessions_app.events.build_envelope` and `json.dumps` of each envelope, which is
  the work every receiver (websocket, webhook) shares; no database, no channel layer;
- + channel layer: the same, as the group message `sessions_app.fanout.item` prepares, then
  `group_send` on an `InMemoryChannelLayer` to a group with one subscriber, which receives
  every envelope.

Figures only: nothing here passes or fails.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "waha_project.settings")
os.environ.setdefault("WAHA_LOCAL_STORE_BASE_DIR", tempfile.mkdtemp(prefix="waha-bench-"))

import django

django.setup()

import google.protobuf  # noqa: E402
from channels.layers import InMemoryChannelLayer  # noqa: E402
from neonize.events import MessageEv  # noqa: E402
from neonize.proto.Neonize_pb2 import JID, MessageInfo, MessageSource  # noqa: E402
from neonize.proto.waCommon.WACommon_pb2 import MessageKey  # noqa: E402
from neonize.proto.waE2E.WAWebProtobufsE2E_pb2 import (  # noqa: E402
    ContextInfo,
    ExtendedTextMessage,
    ImageMessage,
    Message,
    ReactionMessage,
)
from neonize.utils.jid import build_jid  # noqa: E402

from sessions_app import fanout, groups  # noqa: E402
from sessions_app.engines.neonize_events import translate  # noqa: E402
from sessions_app.events import build_envelope  # noqa: E402
from sessions_app.ignore import IgnoreRules  # noqa: E402
from sessions_app.models import Session  # noqa: E402
from webhooks_app.services import serialised  # noqa: E402

ME_USER = "6281111111111"
ME = f"{ME_USER}@c.us"
RULES = IgnoreRules()
KINDS = ("text", "group text", "own text", "reply", "photo", "reaction")


def corpus(count: int) -> list[bytes]:
    """`count` distinct MessageEv, cycling through KINDS, serialized like Go sends them."""
    me = build_jid(ME_USER)
    group = build_jid("120363000000000000", "g.us")
    out = []
    for n in range(count):
        contact = build_jid(f"62822{n % 997:08d}")
        kind = KINDS[n % len(KINDS)]
        chat, sender, from_me, is_group = contact, contact, False, False
        if kind == "text":
            content = Message(conversation=f"hello number {n}, how are you today?")
        elif kind == "group text":
            chat, is_group = group, True
            content = Message(conversation=f"group message {n}")
        elif kind == "own text":
            sender, from_me = me, True
            content = Message(conversation=f"our answer {n}")
        elif kind == "reply":
            quote = ContextInfo(stanzaID=f"3EB0Q{n:06d}", participant=f"{ME_USER}@s.whatsapp.net",
                                quotedMessage=Message(conversation="the question"))
            content = Message(extendedTextMessage=ExtendedTextMessage(
                text=f"the reply {n}", contextInfo=quote))
        elif kind == "photo":
            content = Message(imageMessage=ImageMessage(
                caption=f"photo {n}", mimetype="image/jpeg", fileLength=123_456,
                URL="https://mmg.whatsapp.net/v/t62/abc", directPath="/v/t62/abc",
                mediaKey=os.urandom(32), fileSHA256=os.urandom(32), JPEGThumbnail=os.urandom(900)))
        else:
            key = MessageKey(remoteJID=f"{ME_USER}@s.whatsapp.net", fromMe=False,
                             ID=f"3EB0M{n:06d}")
            content = Message(reactionMessage=ReactionMessage(key=key, text="👍"))
        event = MessageEv(
            Info=MessageInfo(
                MessageSource=MessageSource(Chat=chat, Sender=_device(sender), IsFromMe=from_me,
                                            IsGroup=is_group),
                ID=f"3EB0{n:016X}", Timestamp=1_700_000_000_000 + n, Pushname="Contact",
                Type="media" if kind == "photo" else "text"),
            Message=content,
        )
        out.append(event.SerializePartialToString())
    return out


def _device(jid: JID) -> JID:
    device = JID()
    device.CopyFrom(jid)
    device.Device = 3
    return device


def decode_only(data: bytes) -> int:
    MessageEv.FromString(data)
    return 0


def decode_translate(data: bytes) -> int:
    return len(translate(MessageEv.FromString(data), me_id=ME, rules=RULES))


def make_publish(session: Session) -> Callable[[bytes], int]:
    def publish(data: bytes) -> int:
        events = translate(MessageEv.FromString(data), me_id=ME, rules=RULES)
        for name, payload in events:
            json.dumps(build_envelope(session, name, payload))
        return len(events)
    return publish


def measure(step: Callable[[bytes], int], items: list[bytes], seconds: float
            ) -> tuple[float, float]:
    """neonize events and WAHA events per second over at least `seconds`."""
    for data in items[:100]:  # warm-up
        step(data)
    done = produced = 0
    began = time.perf_counter()
    while True:
        for data in items:
            produced += step(data)
        done += len(items)
        elapsed = time.perf_counter() - began
        if elapsed >= seconds:
            return done / elapsed, produced / elapsed


async def measure_layer(session: Session, items: list[bytes], seconds: float
                        ) -> tuple[float, float]:
    layer = InMemoryChannelLayer()
    subscriber = await layer.new_channel()
    group = groups.session_group(session.name)
    await layer.group_add(group, subscriber)

    async def step(data: bytes) -> int:
        events = translate(MessageEv.FromString(data), me_id=ME, rules=RULES)
        for name, payload in events:
            envelope = build_envelope(session, name, payload)
            # The message every subscriber gets: the envelope's text, serialised once.
            await layer.group_send(group, groups.event_message(
                [fanout.item(envelope, None, serialised(envelope))]))
            received = await layer.receive(subscriber)
            assert received["items"][0]["event"] == envelope["event"]
        return len(events)

    for data in items[:100]:
        await step(data)
    done = produced = 0
    began = time.perf_counter()
    while True:
        for data in items:
            produced += await step(data)
        done += len(items)
        elapsed = time.perf_counter() - began
        if elapsed >= seconds:
            return done / elapsed, produced / elapsed


def pin(cpu: int) -> str:
    if hasattr(os, "sched_setaffinity"):
        try:
            os.sched_setaffinity(0, {cpu})
            return f"pinned to CPU {cpu}"
        except OSError as exc:
            return f"not pinned ({exc})"
    return "not pinned (no sched_setaffinity here)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1000, help="distinct events in the corpus")
    parser.add_argument("--seconds", type=float, default=2.0, help="time spent on each path")
    parser.add_argument("--cpu", type=int, default=0, help="the core to pin the process to")
    args = parser.parse_args()

    pinned = pin(args.cpu)
    items = corpus(args.events)
    session = Session(name="bench", config={"metadata": {"user.id": "123"}},
                      me={"id": ME, "pushName": "Bench"})
    sizes = sorted(len(data) for data in items)

    rows: list[tuple[str, tuple[float, float]]] = [
        ("decode only (baseline)", measure(decode_only, items, args.seconds)),
        ("decode + translate", measure(decode_translate, items, args.seconds)),
        ("+ envelope + json.dumps", measure(make_publish(session), items, args.seconds)),
        ("+ InMemoryChannelLayer, 1 subscriber",
         asyncio.run(measure_layer(session, items, args.seconds))),
    ]

    import neonize

    print(f"neonize {neonize.__version__}, protobuf {google.protobuf.__version__}, "
          f"Python {platform.python_version()} on {platform.machine()}, one process, {pinned}")
    print(f"{len(items)} distinct MessageEv ({', '.join(KINDS)}), {sizes[len(sizes) // 2]} "
          f"bytes median; {args.seconds:g} s per path")
    print("Publishing here is translate + build_envelope + json.dumps: no database writes and,"
          " except on the last line, no channel layer.")
    print()
    header = f"{'path':<38} {'neonize ev/s':>13} {'WAHA ev/s':>11} {'µs/neonize ev':>14} " \
             f"{'share of baseline':>18}"
    print(header)
    print("-" * len(header))
    baseline = rows[0][1][0]
    for label, (events, produced) in rows:
        waha = "-" if label.startswith("decode only") else f"{produced:,.0f}"
        print(f"{label:<38} {events:>13,.0f} {waha:>11} {1e6 / events:>14.1f} "
              f"{events / baseline:>17.1%}")
    print()
    print("WAHA ev/s counts what translate() emits: an incoming message is two events "
          "(message, message.any); our own message, a reaction one each.")


if __name__ == "__main__":
    main()
