package grpcretry

import (
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
)

// idempotent reports whether method may be sent again after a failure that
// does not show the server left it alone: the options say so, or its
// .proto does.
func (i *interceptor) idempotent(method string) bool {
	if i.all || i.methods[method] {
		return true
	}
	if n := strings.LastIndexByte(method, '/'); n >= 0 && i.services[method[:n+1]] {
		return true
	}
	for _, f := range i.funcs {
		if f(method) {
			return true
		}
	}
	return declaredIdempotent(protoregistry.GlobalFiles, method)
}

// declaredIdempotent reports whether the .proto of method, as registered in
// files by the generated code, gives it an idempotency_level of IDEMPOTENT
// or NO_SIDE_EFFECTS. An unknown method is not idempotent.
func declaredIdempotent(files *protoregistry.Files, method string) bool {
	service, name, ok := strings.Cut(strings.TrimPrefix(method, "/"), "/")
	if !ok {
		return false
	}
	d, err := files.FindDescriptorByName(protoreflect.FullName(service))
	if err != nil {
		return false
	}
	sd, ok := d.(protoreflect.ServiceDescriptor)
	if !ok {
		return false
	}
	md := sd.Methods().ByName(protoreflect.Name(name))
	if md == nil {
		return false
	}
	opts, ok := md.Options().(*descriptorpb.MethodOptions)
	if !ok {
		return false
	}
	switch opts.GetIdempotencyLevel() {
	case descriptorpb.MethodOptions_IDEMPOTENT, descriptorpb.MethodOptions_NO_SIDE_EFFECTS:
		return true
	}
	return false
}
