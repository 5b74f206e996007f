package messages

// Checkpointing reports whether a framework's tasks and executors survive
// an agent restart: FrameworkInfo.checkpoint, where unset means yes. That
// is Agora's default (its SDK, `agora run` and the examples leave the field
// unset, and their tasks outlive agent restarts); Mesos' default is no, so
// the Mesos API always sets the field (false when a Mesos framework leaves
// it unset). A nil info is unset too.
func Checkpointing(info *FrameworkInfo) bool {
	return info == nil || info.Checkpoint == nil || *info.Checkpoint
}
