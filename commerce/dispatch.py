"""The table from transaction kind to handler, and from timer kind to step."""
from __future__ import annotations

from typing import Callable

from chain.transaction import SignedTransaction
from commerce import accounts, contracts, coupons, funds, orders, params, products, trace
from commerce.context import Context
from commerce.overlay import Overlay

Handler = Callable[[Overlay, SignedTransaction, Context], None]
TimedStep = Callable[[Overlay, Context, str], None]

HANDLERS: dict[str, Handler] = {
    "account.register": accounts.process_account_register,
    "account.request_role": accounts.process_account_request_role,
    "account.approve": accounts.process_account_approve,
    "account.suspend": accounts.process_account_suspend,
    "account.reinstate": accounts.process_account_reinstate,
    "funds.mint": funds.process_funds_mint,
    "funds.burn": funds.process_funds_burn,
    "funds.transfer": funds.process_funds_transfer,
    "asset.issue": funds.process_asset_issue,
    "product.list": products.process_product_list,
    "product.update": products.process_product_update,
    "order.create": orders.process_order_create,
    "order.cancel": orders.process_order_cancel,
    "order.ship": orders.process_order_ship,
    "order.confirm": orders.process_order_confirm,
    "order.refund": orders.process_order_refund,
    "order.dispute": orders.process_order_dispute,
    "order.resolve": orders.process_order_resolve,
    "review.post": orders.process_review_post,
    "coupon.issue": coupons.process_coupon_issue,
    "coupon.buy": coupons.process_coupon_buy,
    "coupon.record_sale": coupons.process_coupon_record_sale,
    "coupon.transfer": coupons.process_coupon_transfer,
    "coupon.redeem": coupons.process_coupon_redeem,
    "trace.record": trace.process_trace_record,
    "trace.correct": trace.process_trace_correct,
    "contract.create": contracts.process_contract_create,
    "contract.sign": contracts.process_contract_sign,
    "contract.cancel": contracts.process_contract_cancel,
    "params.update": params.process_params_update,
}

TIMED_STEPS: dict[str, TimedStep] = {
    "ship_timeout": lambda state, ctx, record_id: orders.process_order_timeout(state, ctx, record_id, "ship_timeout"),
    "auto_confirm": lambda state, ctx, record_id: orders.process_order_timeout(state, ctx, record_id, "auto_confirm"),
    "dispute_timeout": lambda state, ctx, record_id: orders.process_order_timeout(state, ctx, record_id, "dispute_timeout"),
    "contract_expiry": contracts.process_contract_expiry,
    "contract_settle": contracts.process_contract_settlement,
    "coupon_expiry": coupons.process_coupon_batch_expiry,
}
