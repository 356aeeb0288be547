# carepath: the two commands of the README, and a few helpers.
.PHONY: run test install lint hapi-start hapi-stop load

run:  ## install what is needed, start local HAPI + sample patients + sandbox EHR + carepath
	bash scripts/run.sh

test:  ## the whole suite: lint, unit, integration (local HAPI, sandbox EHR, chromium)
	bash scripts/test.sh

install:
	bash scripts/install.sh --test

lint:
	.venv/bin/ruff check .
	.venv/bin/hadolint Dockerfile deploy/nginx/Dockerfile

hapi-start:
	bash hapi/start.sh

hapi-stop:
	bash hapi/stop.sh

load:
	.venv/bin/carepath load
