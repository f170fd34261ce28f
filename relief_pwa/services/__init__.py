"""Async use-cases. The only code that touches tables.

Naming (Zulip habit): ``do_*`` performs one complete state change inside one
write transaction and writes its audit event there; ``check_*`` validates
and acts; ``access_*`` loads one protected row for an actor or refuses;
``list_*``/``get_*`` read within the actor's jurisdiction.
"""
