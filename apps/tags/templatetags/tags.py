from django import template

register = template.Library()


@register.inclusion_tag("tags/widgets/chips.html")
def tag_chips(tags, list_url: str = "containers:list") -> dict:
    """Tag chips linking to the list (containers by default, or hosts) filtered by that tag."""
    return {"tags": tags, "list_url": list_url}
