package grpcplugin

import (
	"context"
	"fmt"
	"sync"

	pluginv1 "github.com/agolpipe/agolpipe/proto/agolpipe/plugin/v1"
	"github.com/agolpipe/agolpipe/sdk"
	"google.golang.org/grpc"
)

// What every kind's client adapter does the same way, whatever the
// generated request and response types of its service.

// description is what every kind's Describe response carries.
type description interface {
	GetInfo() *pluginv1.Info
	GetSchema() *pluginv1.Schema
}

// describe calls a plugin's Describe, bounded by describeTimeout, and
// decodes the info and schema of its answer; kind ("sink") names the
// component in the error. The answer is returned for what only its kind
// declares (item types, features).
func describe[Req any, Resp description](ctx context.Context, kind string, call func(context.Context, Req, ...grpc.CallOption) (Resp, error), req Req) (Resp, sdk.Info, sdk.Schema, error) {
	ctx, cancel := describeCtx(ctx)
	defer cancel()
	d, err := call(ctx, req)
	if err != nil {
		var none Resp
		return none, sdk.Info{}, sdk.Schema{}, fmt.Errorf("describing %s: %w", kind, fromStatus(err))
	}
	schema, err := schemaFromProto(d.GetSchema())
	if err != nil {
		return d, sdk.Info{}, sdk.Schema{}, err
	}
	return d, infoFromProto(d.GetInfo()), schema, nil
}

// closeOnce calls a plugin's Close the first time only, so a client's
// Close is idempotent: later calls return nil.
func closeOnce[Req, Resp any](once *sync.Once, call func(context.Context, Req, ...grpc.CallOption) (Resp, error), req Req) error {
	var err error
	once.Do(func() {
		_, err = call(context.Background(), req)
		err = fromStatus(err)
	})
	return err
}
