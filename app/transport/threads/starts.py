"""The commands that start runs: ``run.start``, ``input.respond``, ``state.fork``.

Each becomes an ordinary run-create body for ``RunManager`` (the same
engine, queue and event log as ``POST /threads/{id}/runs``), marked as a
protocol run so its messages stream as content blocks and every channel the
protocol has is in its log:

* ``run.start`` creates the thread when it does not exist yet (clients mint
  the id). On a thread paused at an interrupt it *resumes* with the input as
  the answer, as LangGraph Server does (``RemoteGraph`` sends
  ``Command(resume=...)`` that way), unless the client forks from a
  checkpoint (``config.configurable.checkpoint_id``). Whether the thread is
  paused is known once its current runs have ended, so on a busy thread
  ``run.start`` answers after they have.
* ``input.respond`` answers pending interrupts by id
  (``Command(resume={interrupt_id: response})``, with ``update``/``goto``);
  an id that is not pending is ``no_such_interrupt``.
* ``state.fork`` starts a run from a checkpoint of the thread.

Runs queue behind the thread's current run (``multitask_strategy`` enqueue).
Each is admitted like ``POST /threads/{id}/runs`` (``app.auth.run_access``):
``threads.create_run`` authorized, the user's run limit, and for the
``run.start`` that creates the thread, ``threads.create`` (its owner stamp).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.requests import HTTPConnection

from app.auth.run_access import admit_runs
from app.endpoints.http import describe_validation_error
from app.errors import SwitchyardError
from app.schemas import CommandBody, RunCreate, StreamMode
from app.services import Services
from app.store.base import Run, Thread

__all__ = ["PROTOCOL_MODES", "CommandFailed", "fork", "respond", "start"]

# Everything a thread-protocol channel is made of (app.transport.threads.frames).
PROTOCOL_MODES: list[StreamMode] = [
    "values",
    "updates",
    "messages-tuple",
    "tools",
    "custom",
    "tasks",
    "checkpoints",
]


class CommandFailed(Exception):
    """A command the protocol answers with an error envelope."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RunStartParams(_Params):
    assistant_id: str = Field(min_length=1)
    input: Any = None
    config: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    langsmith_tracer: dict[str, Any] | None = None


class _Answer(_Params):
    namespace: list[str] = Field(default_factory=list)
    interrupt_id: str = Field(min_length=1)
    response: Any = None


class InputRespondParams(_Params):
    namespace: list[str] | None = None
    interrupt_id: str | None = None
    response: Any = None
    responses: list[_Answer] | None = None
    update: dict[str, Any] | None = None
    goto: Any = None
    config: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None

    def answers(self) -> list[_Answer]:
        if self.responses:
            return self.responses
        if self.interrupt_id is None:
            raise ValueError("give 'interrupt_id' and 'response', or 'responses'")
        return [
            _Answer(
                namespace=self.namespace or [],
                interrupt_id=self.interrupt_id,
                response=self.response,
            )
        ]


class StateForkParams(_Params):
    checkpoint_id: str = Field(min_length=1)
    input: Any = None
    config: dict[str, Any] | None = None


def parse(model: type[_Params], params: Any) -> Any:
    try:
        return model.model_validate(params if params is not None else {})
    except ValidationError as exc:
        raise CommandFailed("invalid_argument", describe_validation_error(exc)) from None


async def _create(services: Services, conn: HTTPConnection, thread_id: str, **fields: Any) -> Run:
    try:
        body = RunCreate(
            stream_mode=PROTOCOL_MODES,
            stream_subgraphs=True,
            if_not_exists="create",
            **fields,
        )
    except ValidationError as exc:
        raise CommandFailed("invalid_argument", describe_validation_error(exc)) from None
    try:
        async with admit_runs(conn, [body], thread_id, services.runs.is_active) as admission:
            run = await services.runs.create(
                admission.bodies[0],
                thread_id=thread_id,
                filters=admission.filters[0],
                thread_metadata=admission.thread_metadata[0],
                protocol=True,
            )
            admission.bind([run.run_id])
        return run
    except SwitchyardError as exc:
        code = "invalid_argument" if exc.status_code in (400, 422) else "unknown_error"
        if exc.status_code in (401, 403, 429):  # refused by auth or the run limit: say so
            code = exc.code.value
        if exc.status_code == 404:
            code = "not_supported" if "assistant" in exc.code.value else "no_such_run"
        raise CommandFailed(code, exc.message, exc.status_code) from None


def _pending(thread: Thread | None) -> dict[str, Any]:
    """The thread's pending interrupts by id."""
    found: dict[str, Any] = {}
    for interrupts in (thread.interrupts if thread else {}).values():
        for interrupt in interrupts or []:
            if isinstance(interrupt, dict) and interrupt.get("id"):
                found[str(interrupt["id"])] = interrupt
    return found


async def _check_checkpoint(services: Services, thread_id: str, checkpoint_id: str) -> None:
    config = {
        "configurable": {
            "thread_id": thread_id,
            "checkpoint_ns": "",
            "checkpoint_id": checkpoint_id,
        }
    }
    if await services.storage.checkpointer.aget_tuple(config) is None:  # type: ignore[arg-type]
        raise CommandFailed(
            "no_such_checkpoint", f"thread {thread_id} has no checkpoint {checkpoint_id}", 404
        )


async def _settled(services: Services, thread_id: str) -> Thread | None:
    """The thread once the runs it has now have ended: only then does it say
    whether it is paused at an interrupt (a client hears of the interrupt
    while its run is still ending)."""
    for run_id in services.runs.active_run_ids(thread_id):
        await services.runs.wait(run_id)
    return await services.storage.threads.get(thread_id)


async def start(
    services: Services, thread_id: str, params: Any, conn: HTTPConnection
) -> dict[str, Any]:
    p: RunStartParams = parse(RunStartParams, params)
    thread = await _settled(services, thread_id)
    fork_from = ((p.config or {}).get("configurable") or {}).get("checkpoint_id")
    forking = isinstance(fork_from, str) and bool(fork_from)
    if isinstance(fork_from, str) and fork_from:
        await _check_checkpoint(services, thread_id, fork_from)
    fields: dict[str, Any] = {
        "assistant_id": p.assistant_id,
        "config": p.config,
        "metadata": p.metadata,
        "langsmith_tracer": p.langsmith_tracer,
    }
    if _pending(thread) and not forking:
        fields["command"] = CommandBody(resume=p.input)
    else:
        fields["input"] = p.input
    run = await _create(services, conn, thread_id, **fields)
    return {"run_id": run.run_id}


def _assistant_of(thread: Thread) -> str:
    owner = thread.metadata.get("assistant_id") or thread.metadata.get("graph_id")
    if not isinstance(owner, str):
        raise CommandFailed(
            "invalid_argument", f"thread {thread.thread_id} has not run a graph yet", 409
        )
    return owner


async def respond(
    services: Services, thread_id: str, params: Any, conn: HTTPConnection
) -> dict[str, Any]:
    p: InputRespondParams = parse(InputRespondParams, params)
    try:
        answers = p.answers()
    except ValueError as exc:
        raise CommandFailed("invalid_argument", str(exc)) from None
    thread = await services.storage.threads.get(thread_id)
    if thread is None:
        raise CommandFailed("no_such_run", f"thread {thread_id} does not exist", 404)
    pending = _pending(thread)
    if any(a.interrupt_id not in pending for a in answers):
        pending = _pending(await _settled(services, thread_id))
    unknown = [a.interrupt_id for a in answers if a.interrupt_id not in pending]
    if unknown:
        raise CommandFailed(
            "no_such_interrupt",
            f"interrupts {unknown} are not pending on thread {thread_id}; "
            f"pending: {sorted(pending)}",
            404,
        )
    command = CommandBody(
        resume={a.interrupt_id: a.response for a in answers}, update=p.update, goto=p.goto
    )
    run = await _create(
        services,
        conn,
        thread_id,
        assistant_id=_assistant_of(thread),
        command=command,
        config=p.config,
        metadata=p.metadata,
    )
    return {"run_id": run.run_id}


async def fork(
    services: Services, thread_id: str, params: Any, conn: HTTPConnection
) -> dict[str, Any]:
    p: StateForkParams = parse(StateForkParams, params)
    thread = await services.storage.threads.get(thread_id)
    if thread is None:
        raise CommandFailed("no_such_checkpoint", f"thread {thread_id} does not exist", 404)
    await _check_checkpoint(services, thread_id, p.checkpoint_id)
    config = dict(p.config or {})
    config["configurable"] = {
        **(config.get("configurable") or {}),
        "checkpoint_id": p.checkpoint_id,
    }
    run = await _create(
        services, conn, thread_id, assistant_id=_assistant_of(thread), input=p.input, config=config
    )
    return {"run_id": run.run_id, "thread_id": thread_id}
