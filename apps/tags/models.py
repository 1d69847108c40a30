from __future__ import annotations

from django.db import models


class Tag(models.Model):
    """A label users put on containers and hosts, or one derived from container labels
    (`compose:<project>`, `dockmon.tag=a,b`)."""

    class Colour(models.TextChoices):
        GREY = "grey", "Grey"
        BLUE = "blue", "Blue"
        GREEN = "green", "Green"
        YELLOW = "yellow", "Yellow"
        ORANGE = "orange", "Orange"
        RED = "red", "Red"
        PURPLE = "purple", "Purple"
        TEAL = "teal", "Teal"

    name = models.CharField(max_length=64, unique=True)
    colour = models.CharField(max_length=10, choices=Colour.choices, default=Colour.GREY)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name
