"""Flows that cross boundaries: the database, the engines (over the channel layer) and events.

The API never touches a WhatsApp client: it changes the desired state in a transaction and
nudges the engines; what needs a live client is a request to the owning engine.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from asgiref.sync import async_to_sync
from channels.exceptions import ChannelFull
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import IntegrityError, transaction

from waha_project.database import ByKey, ByKeys, update_rows
from webhooks_app.services import add_webhooks, sync_webhooks

from . import events, groups, store
from .engines import PROFILE_CALLS, EngineError, EngineUnsupported, SessionSpec, get_engine
from .errors import EngineUnavailable, SessionExists, SessionNotFound, WrongState
from .models import (
    Listed,
    Session,
    SessionStatus,
    SessionStatusChange,
    default_session_name,
    every_session_listed,
)
from .slots import EventArrived, HistoryArrived, Kept

log = logging.getLogger("waha.sessions")


# --- desired state, from the API ------------------------------------------------------------------
SESSION_BY_NAME = ByKey(Session, "name")
SESSIONS_LOCKED = ByKeys(Session, "uid", locked=True)  # by uid, in primary key order


def get_session(name: str) -> Session:
    try:
        return SESSION_BY_NAME.get(name)
    except Session.DoesNotExist:
        raise SessionNotFound() from None


def create_session(name: str | None, config: dict[str, Any], *, start: bool) -> Session:
    name = name or default_session_name()
    try:
        with transaction.atomic():  # two INSERTs, and one for its webhooks if it has any
            session = Session.objects.create_stopped(
                name=name, config=config, should_run=start, generation=1 if start else 0
            )
            add_webhooks(session.pk, (session.config or {}).get("webhooks"))
    except IntegrityError:
        raise SessionExists(
            f"Session '{name}' already exists. Use PUT to update it."
        ) from None
    if start:
        nudge_engines(session.name)
    return session


def update_config(name: str, config: dict[str, Any]) -> Session:
    """Replace the whole config; a running session restarts to apply it."""
    with transaction.atomic():
        session = _locked(name)
        session.config = config
        sync_webhooks(session.pk, (session.config or {}).get("webhooks"))
        fields = ["config", "updated_at"]
        if session.should_run:
            session.generation += 1
            fields.append("generation")
        session.save(update_fields=fields)
    if session.should_run:
        nudge_engines(name)
    return session


def start_session(name: str) -> Session:
    """Idempotent: a session already running keeps running; a FAILED one starts again."""
    return _start(name, restart=False)


def restart_session(name: str) -> Session:
    return _start(name, restart=True)


def _start(name: str, *, restart: bool) -> Session:
    """Ask for a new run: the owning engine starts a fresh client for the new generation."""
    with transaction.atomic():
        session = _locked(name)
        running = session.should_run and session.display_status != SessionStatus.FAILED
        if running and not restart:
            return session
        session.should_run = True
        session.generation += 1
        session.save(update_fields=["should_run", "generation", "updated_at"])
    nudge_engines(name)
    return session


def stop_session(name: str) -> Session:
    with transaction.atomic():
        session = _locked(name)
        if session.should_run:
            session.should_run = False
            session.save(update_fields=["should_run", "updated_at"])
        if not session.lease_is_live() and session.status != SessionStatus.STOPPED:
            # No engine runs it (e.g. its engine was lost): record the stop here.
            session = record_status(session.uid, SessionStatus.STOPPED) or session
    nudge_engines(name)
    return session


def logout_session(name: str) -> Session:
    """Unlink and wipe the auth state, keep the config; a running session starts afresh."""
    with transaction.atomic():
        session = _locked(name)
        linked = spec_of(session)  # with the device to wipe, before it is forgotten
        session.me = None
        fields = ["me", "updated_at"]
        wipe_here = not session.should_run and not session.lease_is_live()
        if wipe_here:
            session.device_jid = ""
            fields.append("device_jid")
        else:
            # The owning engine unlinks the live device and wipes it (then forgets its JID),
            # then starts again if it should run.
            session.logout_pending = True
            fields.append("logout_pending")
        if session.should_run:
            session.generation += 1
            fields.append("generation")
        session.save(update_fields=fields)
    if wipe_here:
        get_engine().wipe(linked)
    else:
        nudge_engines(name)
    return session


def delete_session(name: str) -> None:
    """Idempotent: unlink if paired, stop, wipe the auth state, delete the config."""
    with transaction.atomic():
        session = Session.objects.select_for_update().filter(name=name).first()
        if session is None:
            return
        owned = session.lease_is_live()
        spec = spec_of(session)
        session.delete()
    if owned:
        # The owner finds its client without a row and unlinks it.
        nudge_engines(name)
    else:
        get_engine().wipe(spec)


def upsert_and_start(name: str, config: dict[str, Any] | None) -> Session:
    """The deprecated `POST /api/sessions/start`: create or update, then start."""
    if not name:
        raise WrongState("Session name is required")
    try:
        get_session(name)
    except SessionNotFound:
        return create_session(name, config or {}, start=True)
    if config is not None:
        with transaction.atomic():
            session = _locked(name)
            session.config = config
            session.save(update_fields=["config", "updated_at"])
            sync_webhooks(session.pk, (session.config or {}).get("webhooks"))
    return start_session(name)


@dataclass(frozen=True)
class Operation:
    """One lifecycle operation on a session, as the API, the dashboard and the admin offer it."""

    name: str
    run: Callable[[str], Session]
    label: str
    # What the dashboard says once it is asked for ({name} is the session's).
    done: str
    # Logout unlinks the phone: getting it back needs the customer to scan a new QR code.
    confirm: bool = False


LIFECYCLE: dict[str, Operation] = {operation.name: operation for operation in (
    Operation("start", start_session, "Start", "Session {name} is starting."),
    Operation("stop", stop_session, "Stop", "Session {name} stopped."),
    Operation("restart", restart_session, "Restart", "Session {name} is restarting."),
    Operation("logout", logout_session, "Logout", "Session {name} logged out.", confirm=True),
)}


def list_sessions(include_stopped: bool, names: list[str] | None = None) -> list[Listed]:
    """Every session, or those of `names` (what a session key or a dashboard user sees)."""
    sessions = (every_session_listed() if names is None
                else Session.objects.filter(name__in=names).listed())
    if include_stopped:
        return sessions
    return [session for session in sessions if session.display_status != SessionStatus.STOPPED]


def _locked(name: str) -> Session:
    """The row, locked until the transaction ends: what the caller changes on it is computed
    from the latest state, and the object it saves is the answer. Read back after the commit,
    the row could show a later request's write."""
    try:
        return Session.objects.select_for_update().get(name=name)
    except Session.DoesNotExist:
        raise SessionNotFound() from None


def spec_of(session: Session) -> SessionSpec:
    return SessionSpec(name=session.name, uid=session.uid, config=session.config,
                       device_jid=session.device_jid)


# --- what needs the live client: asked of the owning engine -----------------------------------
def wait_for_qr(name: str) -> Session:
    """Wait for the session to run, then for a QR code (API.md): WAHA_QR_WAIT_* seconds."""
    session = get_session(name)
    deadline = time.monotonic() + settings.QR_WAIT_RUNNING_SECONDS
    while not session.is_running() and time.monotonic() < deadline:
        time.sleep(0.1)
        session = get_session(name)
    if session.is_running():
        deadline = time.monotonic() + settings.QR_WAIT_SCAN_SECONDS
        while session.qr_may_come() and time.monotonic() < deadline:
            time.sleep(0.1)
            session = get_session(name)
    if not session.has_qr():
        message = "Session status is not as expected. Try again later or restart the session"
        raise WrongState(message, details={
            "error": message, "session": name, "status": session.display_status,
            "expected": [SessionStatus.SCAN_QR_CODE],
        })
    return session


def request_code(name: str, phone_number: str) -> str:
    """A pairing code for `phone_number`, from the engine that runs the session."""
    session = get_session(name)
    state = session.display_status
    if state not in (SessionStatus.SCAN_QR_CODE, SessionStatus.STARTING):
        raise WrongState(
            f"Can request code only in SCAN_QR_CODE status. The current status is {state}"
        )
    return str(async_to_sync(ask_engine)(session, "request_code", phoneNumber=phone_number))


def working_session(name: str) -> Session:
    """The session, which must be WORKING: sending and the profile need a linked account."""
    session = get_session(name)
    state = session.display_status
    if state != SessionStatus.WORKING:
        raise WrongState(
            "Session status is not as expected. "
            f"The current status is {state}, expected {SessionStatus.WORKING}"
        )
    return session


def send_text(name: str, chat_id: str, text: str, reply_to: str | None = None) -> Any:
    """Send through a WORKING session; the sent message is kept in the store when it is on."""
    session = working_session(name)
    message = async_to_sync(ask_engine)(session, "send_text", chatId=chat_id, text=text,
                                        reply_to=reply_to)
    if isinstance(message, dict):
        try:
            store.save_sent(session, message)
        except Exception:  # sent is sent: an error here would invite a duplicate retry
            log.exception("could not store the message sent through %s", session.name)
    return message


def profile(name: str, call: str, /, **args: Any) -> Any:
    """A call on the account's profile (`PROFILE_CALLS`: read it, set its name, status or
    picture, delete its picture), carried out by the engine that runs the WORKING session."""
    if call not in PROFILE_CALLS:
        raise ValueError(f"not a profile call: {call}")
    return async_to_sync(ask_engine)(working_session(name), call, **args)


# --- observed state, from the engine runtime ---------------------------------------------------
@dataclass(frozen=True)
class Observation:
    """What an engine observed of one session (`record_statuses`). With `owner`, nothing is
    written unless that engine still owns the session: one that lost it must not overwrite what
    the new owner reports."""

    uid: str
    status: str
    generation: int | None = None
    me: dict[str, Any] | None = None
    qr: str | None = None
    qr_lifetime: float | None = None
    reason: str = ""
    owner: str | None = None


def record_status(uid: str, status: str, **observed: Any) -> Session | None:
    """Write what the engine observed and publish `session.status` once per transition.

    A new QR code re-publishes SCAN_QR_CODE without a new history row.
    """
    return record_statuses([Observation(uid, status, **observed)])[0]


def record_statuses(observations: Sequence[Observation]) -> list[Session | None]:
    """`record_status` for many sessions in one transaction (an engine's boot, its busy
    moments): the rows locked with one query, their history rows added with one insert, the
    events published together (their deliveries in one insert, the channel layer once).
    Answers each observation's session (None: gone, or not its owner's).

    A session observed twice is written in two rounds, so each event shows its own state.
    """
    results: list[Session | None] = []
    with transaction.atomic():
        rows = {row.uid: row for row in SESSIONS_LOCKED.all(list({o.uid for o in observations}))}
        for round_ in _rounds(observations):
            results += _record_round(round_, rows)
    for observation, session in zip(observations, results, strict=True):
        if session is None:
            continue
        if observation.status == SessionStatus.FAILED:
            log.warning("session %s FAILED: %s", session.name, observation.reason)
        else:
            log.info("session %s %s", session.name, observation.status)
    return results


def _rounds(observations: Sequence[Observation]) -> list[list[Observation]]:
    """The observations in order, cut where a session comes again."""
    rounds: list[list[Observation]] = [[]]
    seen: set[str] = set()
    for observation in observations:
        if observation.uid in seen:
            rounds.append([])
            seen = set()
        rounds[-1].append(observation)
        seen.add(observation.uid)
    return rounds


def _record_round(observations: list[Observation], rows: dict[str, Session]
                  ) -> list[Session | None]:
    results: list[Session | None] = []
    saved: list[tuple[Session, list[str]]] = []
    history: list[SessionStatusChange] = []
    news: list[Session] = []
    for o in observations:
        session = rows.get(o.uid)
        if session is None or (o.owner is not None and session.owner != o.owner):
            results.append(None)
            continue
        observed = session.observe(o.status, generation=o.generation, me=o.me, qr=o.qr,
                                   qr_lifetime=o.qr_lifetime, reason=o.reason)
        results.append(session)
        if not observed.change.saved:
            continue
        saved.append((session, observed.fields))
        if observed.history is not None:
            history.append(observed.history)
        if observed.change.news:
            news.append(session)
    SessionStatusChange.objects.bulk_create(history)
    update_rows(saved)
    events.publish_many([(session, "session.status", events.status_payload(session))
                         for session in news])
    return results


def record_event(uid: str, name: str, payload: dict[str, Any]) -> Session | None:
    """Keep a WhatsApp event in the store (when on) and publish it, in one transaction."""
    with transaction.atomic():
        session = Session.objects.filter(uid=uid).first()
        if session is None:
            return None
        if store.store_enabled(session.config):
            store.save_event(session, name, payload)
        events.publish(session, name, payload)
    return session


def record_history(uid: str, batch: dict[str, Any]) -> None:
    with transaction.atomic():
        session = Session.objects.filter(uid=uid).first()
        if session is not None and store.store_enabled(session.config):
            store.save_history(session, batch)


def record_events(items: Sequence[tuple[str, Kept]]) -> None:
    """Keep events and history batches of any sessions (by uid), in order, in one transaction.

    What `record_event` and `record_history` do for one, in bulk: the store's rows with a few
    upserts, every delivery row with one insert, the channel layer and the broker once, after
    the commit. The engine's batcher (`ingest.py`) calls this for each batch.
    """
    with transaction.atomic():
        sessions = Session.objects.in_bulk({uid for uid, _ in items}, field_name="uid")
        changes = store.Changes()
        published: list[tuple[Session, str, dict[str, Any]]] = []
        for uid, item in items:
            session = sessions.get(uid)
            if session is None:
                continue  # deleted meanwhile
            kept = store.store_enabled(session.config)
            match item:
                case EventArrived(name, payload):
                    if kept:
                        changes.event(session, name, payload)
                    published.append((session, name, payload))
                case HistoryArrived(batch):
                    if kept:
                        changes.history(session, batch)
        changes.flush()
        events.publish_many(published)


# --- the channel layer: nudges and requests to engines ------------------------------------------
def nudge_engines(name: str) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(
            groups.ENGINES_GROUP, {"type": groups.NUDGE_MESSAGE, "session": name}
        )
    except Exception:  # engines also reconcile on a timer: a lost nudge only delays
        log.warning("could not nudge engines for %s", name, exc_info=True)


async def ask_engine(session: Session, op: str, **args: Any) -> Any:
    """Send a request to the engine that owns the session and wait for its answer."""
    if not session.lease_is_live():
        raise EngineUnavailable("No engine runs this session right now. Try again later.")
    layer = get_channel_layer()
    if layer is None:
        raise EngineUnavailable("No channel layer configured")
    reply_channel = await layer.new_channel("waha.reply.")
    try:
        await layer.send(
            groups.engine_channel(session.owner),
            {"type": groups.REQUEST_MESSAGE, "op": op, "session": session.name,
             "args": args, "reply": reply_channel},
        )
    except ChannelFull:
        raise EngineUnavailable("The engine is overloaded. Try again later.") from None
    try:
        answer = await asyncio.wait_for(
            layer.receive(reply_channel), settings.ENGINE_REQUEST_TIMEOUT_SECONDS
        )
    except TimeoutError:
        raise EngineUnavailable(
            f"The engine did not answer within {settings.ENGINE_REQUEST_TIMEOUT_SECONDS:g} s"
        ) from None
    if not answer.get("ok"):
        if answer.get("unsupported"):
            raise EngineUnsupported(answer.get("message", "The engine cannot do this"))
        raise EngineError(answer.get("message", "engine error"))
    return answer.get("result")
