from django.db import migrations


def mask_logged_urls(apps, schema_editor):
    """The admin's log kept each webhook's and delivery's name as it was, a URL's password in
    it; the names are masked now: mask those already logged too."""
    from waha_project.masks import masked_urls_in

    LogEntry = apps.get_model("admin", "LogEntry")
    logged = LogEntry.objects.filter(content_type__app_label="webhooks_app",
                                     object_repr__contains="@")
    for entry in logged.only("pk", "object_repr").iterator():
        shown = masked_urls_in(entry.object_repr)[:200]
        if shown != entry.object_repr:
            LogEntry.objects.filter(pk=entry.pk).update(object_repr=shown)


class Migration(migrations.Migration):

    dependencies = [
        ("admin", "0003_logentry_add_action_flag_choices"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("webhooks_app", "0003_delivery_session"),
    ]

    operations = [
        migrations.RunPython(mask_logged_urls, migrations.RunPython.noop),
    ]
