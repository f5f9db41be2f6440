"""Translation of neonize (whatsmeow) events into WAHA events: pure, fast, never raising.

Called on whatsmeow's callback thread, which blocks the Go side until it returns, so nothing
here touches the database, the network or a lock. Whatever cannot be translated becomes an
`engine.event` carrying the raw event, rather than an exception on that thread.

Conventions (WAHA's):
- chat ids: `<number>@c.us`, `<id>@g.us`, `<id>@newsletter`, `status@broadcast`, `<id>@lid`;
- message ids: `{fromMe}_{chat}_{ID}`, plus `_{participant}` for a group (or status) message
  sent by someone else;
- message timestamps in unix seconds (whatsmeow's MessageInfo.Timestamp arrives in ms);
- acks: ERROR -1, PENDING 0, SERVER 1, DEVICE 2, READ 3, PLAYED 4.

One module per kind of event; `dispatch` picks the one an event needs.
"""

from __future__ import annotations

from .dispatch import translate
from .failures import failure_reason
from .history import history_batch
from .jids import me_info, message_id, waha_chat_id

__all__ = [
    "failure_reason",
    "history_batch",
    "me_info",
    "message_id",
    "translate",
    "waha_chat_id",
]
