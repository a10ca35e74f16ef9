"""What a client needs to run a task again in its own process (``Client.recreate_error_locally``):
the pickled function and arguments the scheduler keeps of every task it knows, and which task to blame
for an error. A query: it changes nothing."""
from __future__ import annotations

from .state import ERRED, MEMORY, SchedulerState, TaskState


def replay_spec(state: SchedulerState, keys: list[str], errored: bool) -> tuple:
    """(key, pickled function, pickled arguments, input keys) of the task to run locally: with ``errored``,
    the task where the error of the first erred key among ``keys`` began (it, or an erred input of it,
    inputs first); else the task of ``keys[0]``. ValueError says why there is none."""
    if errored:
        erred = [state.tasks[k] for k in keys if k in state.tasks and state.tasks[k].state == ERRED]
        if not erred:
            raise ValueError("none of these futures failed: recreate_error_locally() runs a task that raised "
                             "(recreate_task_locally() runs any task)")
        ts = blame(erred[0])
    else:
        ts = state.tasks.get(keys[0]) if keys else None
        if ts is None:
            raise ValueError(f"the scheduler no longer knows {keys[:1]}: keep a future of the task to replay it")
    if ts.func is None:
        raise ValueError(f"{ts.key!r} is data scattered by a client, not a task: there is no function to run")
    missing = [dep.key for dep in ts.dependencies if dep.state != MEMORY]
    if missing:
        raise ValueError(f"cannot run {ts.key!r} here: its inputs {missing} are no longer on the cluster (released "
                         f"after it failed, or failed themselves); keep futures of them, or submit the work again")
    return ts.key, ts.func, ts.args, [dep.key for dep in ts.dependencies]


def blame(ts: TaskState) -> TaskState:
    """The task whose own run failed with ``ts``'s error: ``ts``, or the first erred input of it, recursively."""
    seen = {ts.key}
    while True:
        dep = next((d for d in ts.dependencies if d.state == ERRED and d.key not in seen), None)
        if dep is None:
            return ts
        seen.add(dep.key)
        ts = dep
