"""What the pages call: small functions over plain values that own the session's lifetime.

Pages never touch SQL or torch: they call a :class:`Services` method, get frozen dataclasses
(``ProjectInfo``, ``DocumentInfo``, ``ImportResult``...) or plain values back, and show a
:class:`~tagger.spans.SeqLabError` with ``st.error(str(exc))``. Anything else is a bug and is
not caught here. Escaping text for HTML is the page's job: the store keeps texts verbatim.

``core`` holds the annotation side (projects, documents, tagging, files); ``training`` the
model side (jobs, versions, activation), used by the Train and Models pages and the worker;
``patterns`` the term lists and regular expressions that suggest labels before a model;
``accounts`` signing in, accounts and membership, and ``policy`` who may call what:
``Services(url).as_user(actor)`` checks every call against the actor's role and projects;
``review`` assignment, each annotator's own corrections, adjudication and agreement.
"""

from .core import *  # noqa: F401,F403
from .core import CoreServices
from .accounts import ROLES, AccountServices, SignInFailed  # noqa: F401
from .audit import AuditServices
from .ledger import LedgerServices
from .patterns import PatternError, PatternInfo, PatternServices  # noqa: F401
from .policy import ActingServices, Actor, PermissionDenied  # noqa: F401
from .review import AssignResult, ReviewItem, ReviewServices  # noqa: F401
from .training import TrainingServices


class Services(CoreServices, PatternServices, TrainingServices, LedgerServices, AuditServices, AccountServices,
               ReviewServices):
    """The app's operations on one database (``url``: a SQLAlchemy URL, default from db.session).

    Unbound, it is the system actor (worker, CLIs, single-user mode); :meth:`as_user` binds it to
    a signed-in person.
    """
