package master

import (
	"fmt"
	"log/slog"
	"sync/atomic"

	"github.com/agora-sched/agora/messages"
	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/proto"
)

// StandbyProps is the actor that holds the master's name on a master that
// does not lead: it answers every request with Error{NOT_LEADER} naming
// the leader (leader.Load(), nil when none is elected), so an agent or
// scheduler configured with this address learns where to go.
func StandbyProps(leader *atomic.Pointer[messages.MasterInfo], logger *slog.Logger) *actor.Props {
	return actor.PropsFromFunc(func(ctx actor.Context) {
		msg, ok := ctx.Message().(proto.Message)
		if !ok || ctx.Sender() == nil {
			return
		}
		if _, isErr := msg.(*messages.Error); isErr {
			return
		}
		l := leader.Load()
		text := "this master is a standby and no leader is elected yet; retry shortly"
		if l != nil {
			text = fmt.Sprintf("this master is a standby; the leader is %s (epoch %d)", l.Address, l.Epoch)
		}
		logger.Debug("standby refused a request", "type", fmt.Sprintf("%T", msg), "sender", ctx.Sender())
		ctx.Respond(&messages.Error{Code: messages.Error_NOT_LEADER, Message: text, Request: string(msg.ProtoReflect().Descriptor().FullName()), Leader: l})
	})
}
