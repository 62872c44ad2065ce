# The same projection as benches/projection.yaml, written for jq -c.
{lead_id, submitted_at, first_name, email, company,
 address: {city: .address.city, country: .address.country},
 consent: {marketing: .consent.marketing},
 utm,
 items: [.items[] | {sku}]}
| if .items == [] then del(.items) else . end
