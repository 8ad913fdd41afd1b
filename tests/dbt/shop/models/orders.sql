select order_id, customer_id, round(amount, 2) as amount, status
from {{ ref('raw_orders') }}
