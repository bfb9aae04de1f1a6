"""/api/v1/referrals: referrals and leads, vouchers and their statistics, quotas and insights.

The pipeline's router is the base (so ``/api/v1/referrals`` itself lists and submits, without a
trailing-slash redirect); vouchers and insights hang below it.
"""

from .api_insights import router as insights_router
from .api_pipeline import router
from .api_vouchers import router as vouchers_router

router.add_router("/vouchers", vouchers_router)
router.add_router("/insights", insights_router)

__all__ = ["router"]
