"""Which RingCX account the stack's chain belongs to, and who may change it.

Every caller of the proxy works in the chain's account, so a login that
yields another account would silently move every team's calls (and their
request bodies) elsewhere. The pin is the ring's newest generation: the first
login pins the account, and later logins must match its main account and
admin, unless the operator asks for the switch (``replaceAccount``). A
deployment can also pin the main account for good (``ExpectedMainAccountId``),
which no request can override.
"""

from __future__ import annotations

from dataclasses import dataclass
from http import HTTPStatus

from ringcx_broker.errors import BrokerError
from ringcx_broker.tokens import AccountInfo, StoredToken


class AccountMismatch(BrokerError):
    """A login yielded another RingCX account (or admin) than the pinned one."""

    status = HTTPStatus.CONFLICT


@dataclass(frozen=True, slots=True)
class AccountPin:
    main_account: str
    admin_id: str | None  # None: any admin of the account (a deployment's pin)
    by_parameter: bool

    @classmethod
    def of(cls, expected_main_account: str | None, newest: StoredToken | None) -> AccountPin | None:
        if expected_main_account:
            return cls(expected_main_account, None, by_parameter=True)
        if newest is None:
            return None  # the first login pins
        return cls(main_account_of(newest.account), newest.account.admin_id, by_parameter=False)

    def check(self, account: AccountInfo, replace: bool) -> None:
        """Raise ``AccountMismatch`` unless ``account`` is the pinned one (or
        the operator asked to replace a ring pin)."""
        main, admin = main_account_of(account), account.admin_id
        if main == self.main_account and (self.admin_id is None or admin == self.admin_id):
            return
        if self.by_parameter:
            raise AccountMismatch(
                f"this stack is pinned to RingCX main account {self.main_account} by its "
                f"ExpectedMainAccountId parameter; the login belongs to {main or 'an unknown'} "
                "account; nothing was stored"
            )
        if replace:
            return
        what = (
            f"main account {main or 'unknown'}"
            if main != self.main_account
            else f"admin {admin or 'unknown'} of the same account"
        )
        raise AccountMismatch(
            f"the login belongs to RingCX {what}, but this stack's token chain belongs to main "
            f"account {self.main_account} (admin {self.admin_id or 'unknown'}); nothing was "
            'stored. To move every caller to the new account, repeat with "replaceAccount": true'
        )


def main_account_of(account: AccountInfo) -> str:
    """The main account id, or (when RingCX leaves it out) the sub-account ids."""
    return account.main_account_id or ",".join(sorted(account.account_ids))
