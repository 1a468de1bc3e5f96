"""PBFT consensus core (docs/protocol.md section 10): a sans-IO replica driven by events
that returns actions. See consensus/replica.py for the theory of operation."""
from consensus.actions import (
    Action, Broadcast, BuildProposal, Commit, Execute, PersistSignState, RequestSync, Send, SetTimer,
    TIMER_PROPOSE, TIMER_RESEND, TIMER_VIEW,
)
from consensus.messages import (
    CertificateMessage, ConsensusError, Evidence, NewView, PreparedCertificate, Proposal, ViewChange, decode_evidence, decode_message,
    encode_message, verify_evidence,
)
from consensus.replica import Config, Replica
from consensus.sign_state import SignState

__all__ = [
    "Action", "Broadcast", "BuildProposal", "Commit", "Execute", "PersistSignState", "RequestSync",
    "Send", "SetTimer", "TIMER_PROPOSE", "TIMER_RESEND", "TIMER_VIEW", "CertificateMessage", "ConsensusError", "Evidence", "NewView", "PreparedCertificate",
    "Proposal", "ViewChange", "decode_evidence", "decode_message", "encode_message", "verify_evidence",
    "Config", "Replica", "SignState",
]
