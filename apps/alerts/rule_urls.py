from django.urls import path

from apps.alerts import rule_views

urlpatterns = [
    path("alerts/rules/", rule_views.rule_list, name="rules"),
    path("alerts/rules/new/", rule_views.rule_new, name="rule_new"),
    path("alerts/rules/<int:pk>/", rule_views.rule_detail, name="rule_detail"),
    path("alerts/rules/<int:pk>/edit/", rule_views.rule_edit, name="rule_edit"),
    path("alerts/rules/<int:pk>/delete/", rule_views.rule_delete, name="rule_delete"),
    path("alerts/rules/<int:pk>/toggle/", rule_views.rule_toggle, name="rule_toggle"),
]
