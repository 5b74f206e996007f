package remoting

import (
	"context"
	"log/slog"
)

// protoactorLogger routes proto.actor's own log records through ours at
// debug level. proto.actor logs its start-up chatter at INFO and every
// closed client connection (a CLI that exits, an agent that restarts) at
// ERROR, so operators alerting on errors were paged for normal churn. What
// matters to an operator (a refused peer, an unreachable master) Agora logs
// itself, at the level it deserves.
func protoactorLogger(logger *slog.Logger) *slog.Logger {
	return slog.New(debugHandler{logger.Handler()}).With("component", "protoactor")
}

// debugHandler writes every record at debug level.
type debugHandler struct{ inner slog.Handler }

func (h debugHandler) Enabled(ctx context.Context, _ slog.Level) bool {
	return h.inner.Enabled(ctx, slog.LevelDebug)
}

func (h debugHandler) Handle(ctx context.Context, r slog.Record) error {
	r.Level = slog.LevelDebug
	return h.inner.Handle(ctx, r)
}

func (h debugHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return debugHandler{h.inner.WithAttrs(attrs)}
}

func (h debugHandler) WithGroup(name string) slog.Handler {
	return debugHandler{h.inner.WithGroup(name)}
}
