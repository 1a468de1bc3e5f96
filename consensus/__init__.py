"""PBFT consensus core (DESIGN.md section 4): a sans-IO replica driven by events
that returns actions. See consensus/replica.py for the theory of operation."""
from consensus.actions import (
    Action, Application, Broadcast, BuildProposal, Commit, Execute, PersistSignState, RequestSync, Send, SetTimer,
    TIMER_PROPOSE, TIMER_RESEND, TIMER_VIEW,
)
from consensus.messages import (
    CertificateMessage, ConsensusError, Evidence, NewView, PreparedCertificate, Proposal, ViewChange, decode_evidence, decode_message,
    encode_message, verify_evidence,
)
from consensus.replica import (
    BlockValidated, CertificateSeen, Config, Event, MessageReceived, ProposalBuilt, Replica, SignState, Start,
    SyncedBlock, TimerFired,
)

__all__ = [
    "Action", "Application", "Broadcast", "BuildProposal", "Commit", "Execute", "PersistSignState", "RequestSync",
    "Send", "SetTimer", "TIMER_PROPOSE", "TIMER_RESEND", "TIMER_VIEW", "CertificateMessage", "ConsensusError", "Evidence", "NewView", "PreparedCertificate",
    "Proposal", "ViewChange", "decode_evidence", "decode_message", "encode_message", "verify_evidence",
    "BlockValidated", "CertificateSeen", "Config", "Event", "MessageReceived", "ProposalBuilt", "Replica", "SignState",
    "Start", "SyncedBlock", "TimerFired",
]
