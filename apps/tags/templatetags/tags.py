from django import template

register = template.Library()


@register.inclusion_tag("tags/widgets/chips.html")
def tag_chips(tags) -> dict:
    return {"tags": tags}
