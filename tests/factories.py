from __future__ import annotations

import factory

from apps.users.capabilities import Role
from apps.users.models import User
from apps.users.services import role_assign


class UserFactory(factory.django.DjangoModelFactory):
    """A user with a role. Passwords are unusable unless given: bcrypt is slow on purpose."""

    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.test")
    password = factory.django.Password(None)

    @factory.post_generation
    def role(user: User, create: bool, role: Role | None, **kwargs) -> None:
        if create and role is not None:
            role_assign(user, role)
