"""Baton: a durable BPMN 2.0 process engine.

    from engine import Engine, Settings
    eng = Engine(Settings(database_url="sqlite:///baton.db"))
    eng.deploy(["bpmn/examples/approval.bpmn"])
    inst = eng.start("approval", variables={"amount": 120}, business_key="PO-1")
"""

from .config import Settings
from .errors import BatonError
from .runtime import Engine

__all__ = ["BatonError", "Engine", "Settings"]
__version__ = "0.1.0"
