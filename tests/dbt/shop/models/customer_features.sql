-- The training set of the churn model: one row per customer.
select c.customer_id, c.email, c.country,
       count(o.order_id) as orders,
       coalesce(sum(o.amount), 0) as spend
from {{ ref('raw_customers') }} c
left join {{ ref('orders') }} o on o.customer_id = c.customer_id
group by 1, 2, 3
