"""The seeded 7-day call no longer asks for a referral: the referral-ask rule's day-7 task does
(with the delivery photo), so the customer is not called twice about it on the same day. Only rules
still as seeded are changed; an organisation's own wording is left alone."""

from django.db import migrations

CODE = "delivery-call-7d"
OLD_SCRIPT = "赞扬客户的购买决定,提起销售洽谈时的个人话题;送上小礼品和交车照片;请客户推荐一位可能需要的朋友(一拓一)。"
NEW_SCRIPT = "赞扬客户的购买决定,提起销售洽谈时的个人话题;送上小礼品。"
OLD_NAMES = ("7-day call: praise, gift, delivery photo, referral ask", "7 日回访:赞扬、送礼、交车照片、请求推荐")
NEW_NAMES = ("7-day call: praise and a small gift", "7 日回访:赞扬、送小礼品")


def _swap(apps, scripts, names):
    rule = apps.get_model("followups", "ContactRule")
    old_script, new_script = scripts
    rule.objects.filter(code=CODE, script=old_script).update(script=new_script)
    for old, new in zip(names[0], names[1], strict=True):
        rule.objects.filter(code=CODE, name=old).update(name=new)


def forward(apps, schema_editor):
    _swap(apps, (OLD_SCRIPT, NEW_SCRIPT), (OLD_NAMES, NEW_NAMES))


def backward(apps, schema_editor):
    _swap(apps, (NEW_SCRIPT, OLD_SCRIPT), (NEW_NAMES, OLD_NAMES))


class Migration(migrations.Migration):
    dependencies = [("followups", "0005_referral_ask_trigger")]

    operations = [migrations.RunPython(forward, backward)]
