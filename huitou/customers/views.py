from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import render

from huitou.core.errors import NotFound
from huitou.core.http import AuthedRequest

from . import selectors


@login_required
def customer_list_view(request: AuthedRequest) -> HttpResponse:
    page = selectors.customer_list(request.user, selectors.CustomerFilters(q=request.GET.get("q", "")))
    return render(request, "customers/list.html", {"page": page})


@login_required
def customer_detail_view(request: AuthedRequest, pk: int) -> HttpResponse:
    try:
        data = selectors.customer_360(request.user, pk)
    except NotFound as exc:
        raise Http404 from exc
    return render(request, "customers/detail.html", {"c": data})
