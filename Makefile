.PHONY: main test bench-quick down

main:  ## set up, start the embedded stack, run the main job
	scripts/main.sh

test:  ## set up and run the whole test suite
	scripts/test.sh

down:  ## stop the embedded stack
	.venv/bin/pq down
