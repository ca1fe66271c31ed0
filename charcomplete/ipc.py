"""Leave nothing behind in /dev/shm when the editor dies hard.

A multiprocessing Queue in a "spawn" context holds three POSIX named semaphores
(/dev/shm/sem.mp-*). Their names must exist until the child process has opened them; after
that only the open handles matter. Normally the parent removes the names at exit, or its
resource tracker does when the parent dies; but when the editor and its tracker are killed
together (`kill -9` of the process group, the OOM killer, a closed terminal session) six
names per editor stayed in /dev/shm until reboot. So once the learner has spoken (it has
opened every queue by then) the editor removes the names itself: the semaphores keep
working for both processes, and nothing is left to leak."""

from __future__ import annotations


def release_semaphore_names(*queues: object) -> int:
    """Unlink the named semaphores behind `queues` (already opened by every process that
    needs them) and cancel the clean-up that would unlink them again; return how many."""
    from multiprocessing import resource_tracker, util
    from multiprocessing.synchronize import SemLock

    try:
        from _multiprocessing import sem_unlink
    except ImportError:  # pragma: no cover - platforms without named semaphores
        return 0
    names = set()
    for q in queues:
        for part in ("_rlock", "_wlock", "_sem"):
            name = getattr(getattr(getattr(q, part, None), "_semlock", None), "name", None)
            if isinstance(name, str):
                names.add(name)
    released = 0
    for name in sorted(names):
        try:
            sem_unlink(name)
        except OSError:
            continue
        released += 1
        try:
            resource_tracker.unregister(name, "semaphore")
        except Exception:  # noqa: BLE001 - the tracker may be gone; the name is already removed
            pass
    # SemLock registers a finalizer that unlinks the name at exit or collection: it would now
    # fail (FileNotFoundError) and print a traceback. Cancel those of the names removed here.
    for finalizer in list(util._finalizer_registry.values()):
        if getattr(finalizer, "_callback", None) is SemLock._cleanup and getattr(finalizer, "_args", ())[:1] and \
                finalizer._args[0] in names:
            finalizer.cancel()
    return released
