package agent

// WithDiskHook returns cfg with hook run off the actor before each
// checkpoint write or removal and before a sandbox is removed, with its
// path: a test can hold one back to see what the agent does (and does not
// do) meanwhile.
func WithDiskHook(cfg Config, hook func(path string)) Config {
	cfg.diskHook = hook
	return cfg
}
