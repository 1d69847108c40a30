from apps.alerts import alert_urls, rule_urls

app_name = "alerts"

# Alerts (the instances) and rules have their own modules; one namespace serves both.
urlpatterns = alert_urls.urlpatterns + rule_urls.urlpatterns
