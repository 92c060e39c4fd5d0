"""Records that are written once and never changed: the partner audit log and the personal-data
access log. The model and its querysets refuse updates and deletes (PostgreSQL refuses them as
well, through a trigger their migrations install), and the acting user is kept by name, so
deleting an account rewrites nothing and leaves the record readable."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy


class AppendOnlyQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise TypeError(f"{self.model._meta.label} is append-only")

    def delete(self):
        raise TypeError(f"{self.model._meta.label} is append-only")


class AppendOnlyRecord(models.Model):
    # Not a database constraint, not followed on delete: the row stays as it was written.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        models.DO_NOTHING,
        db_constraint=False,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=gettext_lazy("操作人"),
    )
    actor_username = models.CharField(
        gettext_lazy("操作人用户名"), max_length=150, blank=True, default="", editable=False
    )

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise TypeError(f"{self._meta.label} is append-only")
        self.keep_actor_name()
        super().save(*args, **kwargs)

    def keep_actor_name(self) -> None:
        if self.actor_id and not self.actor_username:
            self.actor_username = self.actor.get_username()

    def delete(self, *args, **kwargs):
        raise TypeError(f"{self._meta.label} is append-only")
