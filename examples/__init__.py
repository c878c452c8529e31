"""Examples shipped with vsmesh as data: `org-repo/`, an organisation's repository in the documented GitOps layout
(canon policies and mandates, fin budgets, Backstage catalog-info.yaml), which the demo syncs."""
