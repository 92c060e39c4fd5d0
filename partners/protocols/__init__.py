"""Registry of partner protocol adapters. A partner row names the protocols it speaks.

A new partner API is one new module with the same functions, registered here, plus its tests.
"""

from types import ModuleType

from partners.protocols import qunadai_push, yrxd_collision

COLLISION_PROTOCOLS: dict[str, ModuleType] = {yrxd_collision.NAME: yrxd_collision}
PUSH_PROTOCOLS: dict[str, ModuleType] = {qunadai_push.NAME: qunadai_push}


def collision_protocol(name: str) -> ModuleType:
    try:
        return COLLISION_PROTOCOLS[name]
    except KeyError:
        raise LookupError(f"no collision protocol named {name!r}") from None


def push_protocol(name: str) -> ModuleType:
    try:
        return PUSH_PROTOCOLS[name]
    except KeyError:
        raise LookupError(f"no push protocol named {name!r}") from None


def choices(registry: dict[str, ModuleType]) -> list[tuple[str, str]]:
    return [(name, module.LABEL) for name, module in registry.items()]
