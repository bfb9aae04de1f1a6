"""/api/v1/referrals: referrals and leads, vouchers and their statistics, quotas and insights."""

from ninja import Router

from .api_insights import router as insights_router
from .api_pipeline import router as pipeline_router
from .api_vouchers import router as vouchers_router

router = Router(tags=["referrals"])
router.add_router("/vouchers", vouchers_router)
router.add_router("/insights", insights_router)
router.add_router("", pipeline_router)
