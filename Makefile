# Entry points. Each works on a fresh clone: it installs and starts what it needs.
.PHONY: test demo demo-stop env-up env-down env-status

test: ## the whole test suite (lint, types, unit, integration against the real environment)
	bash test/run.sh

demo: ## run Herald locally and show it working
	bash examples/demo.sh

demo-stop: ## stop the demo's operator and brokers
	bash examples/demo.sh --stop

env-up: ## bring the local environment up (MariaDB, Kafka, Kubernetes control plane)
	bash test/env/up.sh

env-down: ## stop the local environment (keeps data; test/env/down.sh --purge removes it)
	bash test/env/down.sh

env-status: ## show what the local environment runs
	bash test/env/status.sh
