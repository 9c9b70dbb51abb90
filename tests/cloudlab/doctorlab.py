"""The read-only request kinds `diagint doctor` makes beyond the dry runs, added to a running cloudlab.Lab.

    lab = cloudlab.Lab(tmp).start(); doctorlab.install(lab)
    doctorlab.aws_instance(lab, "i-...", state="stopped", itype="a1.large")
    doctorlab.gcp_secure_boot(lab, "web-1", True)

EC2 DescribeInstances and DescribeInstanceTypes (authenticated by the lab like every EC2 request, counted as
aws.describe_instances and aws.describe_instance_types per instance / type), and Shielded VM settings in GCP's
instances.get answer (counted by the lab as gcp.get). The lab's own counts of interrupt kinds (aws.interrupt,
gcp.interrupt, oci.interrupt, os.interrupt) are what tests assert stay 0."""

# Instance types the lab knows: type -> (hypervisor, bareMetal), as DescribeInstanceTypes reports them.
TYPES = {
    "m5.large": ("nitro", False),
    "c6g.large": ("nitro", False),
    "a1.large": ("nitro", False),
    "t2.micro": ("xen", False),
    "m5.metal": ("", True),
}

INTERRUPT_KINDS = ("aws.interrupt", "gcp.interrupt", "oci.interrupt", "os.interrupt")


def install(lab):
    lab.doctor_aws = {}  # instance -> {"state": ..., "type": ...}
    lab.aws_actions["DescribeInstances"] = lambda form, rid: _describe_instances(lab, form, rid)
    lab.aws_actions["DescribeInstanceTypes"] = lambda form, rid: _describe_instance_types(lab, form, rid)
    return lab


def reset(lab):
    lab.reset()
    lab.doctor_aws.clear()
    lab.gcp_instance_extra.clear()


def aws_instance(lab, instance, state="running", itype="m5.large"):
    lab.doctor_aws[instance] = {"state": state, "type": itype}


def gcp_secure_boot(lab, instance, on):
    lab.gcp_instance_extra[instance] = {"shieldedInstanceConfig": {
        "enableSecureBoot": bool(on), "enableVtpm": True, "enableIntegrityMonitoring": True}}


def interrupts(lab):
    """Interrupt requests the lab saw, over every provider."""
    return sum(lab.count(k) for k in INTERRUPT_KINDS)


def _xml(body):
    return 200, {"Content-Type": "text/xml;charset=UTF-8"}, (
        '<?xml version="1.0" encoding="UTF-8"?>\n' + body).encode()


def _error(status, code, msg, rid):
    return status, {"Content-Type": "text/xml;charset=UTF-8"}, (
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>%s</Code><Message>%s"
        "</Message></Error></Errors><RequestID>%s</RequestID></Response>" % (code, msg, rid)).encode()


_CODES = {"pending": 0, "running": 16, "shutting-down": 32, "terminated": 48, "stopping": 64, "stopped": 80}


def _describe_instances(lab, form, rid):
    inst = form.get("InstanceId.1", "")
    lab._count("aws.describe_instances", inst)
    if inst in lab.scripts:  # a scripted instance answers its scripted error to every request kind
        s = lab.scripts[inst][0]
        if s.get("status", 200) != 200:
            return _error(s["status"], s.get("code", "InternalError"), s.get("message", "scripted"), rid)
    info = lab.doctor_aws.get(inst, {"state": "running", "type": "m5.large"})
    return _xml(
        '<DescribeInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>%s</requestId>'
        "<reservationSet><item><reservationId>r-0lab</reservationId><instancesSet><item>"
        "<instanceId>%s</instanceId><imageId>ami-0lab</imageId><instanceState><code>%d</code><name>%s</name>"
        "</instanceState><instanceType>%s</instanceType><tagSet><item><key>Name</key><value>lab</value></item>"
        "</tagSet></item></instancesSet></item></reservationSet></DescribeInstancesResponse>"
        % (rid, inst, _CODES.get(info["state"], 0), info["state"], info["type"]))


def _describe_instance_types(lab, form, rid):
    itype = form.get("InstanceType.1", "")
    lab._count("aws.describe_instance_types", itype)
    if itype not in TYPES:
        return _error(400, "InvalidInstanceType", "The instance type '%s' does not exist" % itype, rid)
    hyper, metal = TYPES[itype]
    return _xml(
        '<DescribeInstanceTypesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>%s</requestId>'
        "<instanceTypeSet><item><instanceType>%s</instanceType><bareMetal>%s</bareMetal>%s"
        "<supportedVirtualizationTypes><item>hvm</item></supportedVirtualizationTypes></item></instanceTypeSet>"
        "</DescribeInstanceTypesResponse>"
        % (rid, itype, "true" if metal else "false", "<hypervisor>%s</hypervisor>" % hyper if hyper else ""))
