package grpcretry

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
)

// testFiles returns a registry with one service, test.v1.Store, whose
// methods Get, Put, Delete and Append declare each idempotency level.
func testFiles(t *testing.T) *protoregistry.Files {
	t.Helper()
	method := func(name string, level descriptorpb.MethodOptions_IdempotencyLevel,
	) *descriptorpb.MethodDescriptorProto {
		return &descriptorpb.MethodDescriptorProto{Name: proto.String(name),
			InputType: proto.String(".test.v1.M"), OutputType: proto.String(".test.v1.M"),
			Options: &descriptorpb.MethodOptions{IdempotencyLevel: level.Enum()}}
	}
	fd := &descriptorpb.FileDescriptorProto{
		Name: proto.String("test/v1/store.proto"), Package: proto.String("test.v1"),
		Syntax:      proto.String("proto3"),
		MessageType: []*descriptorpb.DescriptorProto{{Name: proto.String("M")}},
		Service: []*descriptorpb.ServiceDescriptorProto{{Name: proto.String("Store"),
			Method: []*descriptorpb.MethodDescriptorProto{
				method("Get", descriptorpb.MethodOptions_NO_SIDE_EFFECTS),
				method("Put", descriptorpb.MethodOptions_IDEMPOTENT),
				method("Delete", descriptorpb.MethodOptions_IDEMPOTENCY_UNKNOWN),
				{Name: proto.String("Append"), InputType: proto.String(".test.v1.M"),
					OutputType: proto.String(".test.v1.M")},
			}}},
	}
	f, err := protodesc.NewFile(fd, nil)
	require.NoError(t, err)
	files := &protoregistry.Files{}
	require.NoError(t, files.RegisterFile(f))
	return files
}

func TestDeclaredIdempotent(t *testing.T) {
	files := testFiles(t)
	tests := []struct {
		name       string
		giveMethod string
		want       bool
	}{
		{"no_side_effects", "/test.v1.Store/Get", true},
		{"idempotent", "/test.v1.Store/Put", true},
		{"unknown_level", "/test.v1.Store/Delete", false},
		{"no_level", "/test.v1.Store/Append", false},
		{"no_such_method", "/test.v1.Store/Missing", false},
		{"not_a_service", "/test.v1.M/Get", false},
		{"no_such_service", "/test.v2.Store/Get", false},
		{"no_leading_slash", "test.v1.Store/Get", true},
		{"service_only", "/test.v1.Store", false},
		{"empty", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, declaredIdempotent(files, tt.giveMethod))
		})
	}
}
