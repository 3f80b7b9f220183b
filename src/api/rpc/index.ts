/**
 * The RPC catalogue (CONTRACT §4): every callable method, listed explicitly. Nothing outside this
 * list is reachable; there is no reflection.
 */
import type { RpcMethod } from './types.js';
import chromaHeartbeatCollection from './methods/chroma.heartbeat_collection.js';
import chromaRegisterCollectionUser from './methods/chroma.register_collection_user.js';
import chromaUnregisterCollectionUser from './methods/chroma.unregister_collection_user.js';
import listenersStartWorkflowListenerForJob from './methods/listeners.start_workflow_listener_for_job.js';
import listenersStopWorkflowListenerForJob from './methods/listeners.stop_workflow_listener_for_job.js';
import registryCheckListenerStatus from './methods/registry.check_listener_status.js';
import registryCleanupUserListeners from './methods/registry.cleanup_user_listeners.js';
import registryHeartbeat from './methods/registry.heartbeat.js';
import registryListUserListeners from './methods/registry.list_user_listeners.js';
import registryRegisterListener from './methods/registry.register_listener.js';
import registryRegisterUser from './methods/registry.register_user.js';
import registryUnregisterListener from './methods/registry.unregister_listener.js';
import registryUnregisterSession from './methods/registry.unregister_session.js';
import registryUpdateListenerHeartbeat from './methods/registry.update_listener_heartbeat.js';
import taskCancelTask from './methods/task.cancel_task.js';
import taskGetTaskStatus from './methods/task.get_task_status.js';
import taskListUserTasks from './methods/task.list_user_tasks.js';
import taskStartDocumentAnalysis from './methods/task.start_document_analysis.js';
import taskStartLlmConversation from './methods/task.start_llm_conversation.js';
import taskStartVectorComputation from './methods/task.start_vector_computation.js';
import taskQueryVectors from './methods/task.query_vectors.js';
import unifiedGetCompanyActiveUsers from './methods/unified.get_company_active_users.js';
import unifiedGetTaskRegistry from './methods/unified.get_task_registry.js';
import unifiedGetUserRegistry from './methods/unified.get_user_registry.js';
import unifiedRegisterTask from './methods/unified.register_task.js';
import unifiedRegisterUserSession from './methods/unified.register_user_session.js';
import unifiedUnregisterUserSession from './methods/unified.unregister_user_session.js';
import unifiedUpdateTaskProgress from './methods/unified.update_task_progress.js';
import unifiedUpdateUserHeartbeat from './methods/unified.update_user_heartbeat.js';
import unifiedUpdateUserService from './methods/unified.update_user_service.js';

export const CATALOGUE: readonly RpcMethod[] = [
  chromaHeartbeatCollection,
  chromaRegisterCollectionUser,
  chromaUnregisterCollectionUser,
  listenersStartWorkflowListenerForJob,
  listenersStopWorkflowListenerForJob,
  registryCheckListenerStatus,
  registryCleanupUserListeners,
  registryHeartbeat,
  registryListUserListeners,
  registryRegisterListener,
  registryRegisterUser,
  registryUnregisterListener,
  registryUnregisterSession,
  registryUpdateListenerHeartbeat,
  taskCancelTask,
  taskGetTaskStatus,
  taskListUserTasks,
  taskStartDocumentAnalysis,
  taskStartLlmConversation,
  taskStartVectorComputation,
  taskQueryVectors,
  unifiedGetCompanyActiveUsers,
  unifiedGetTaskRegistry,
  unifiedGetUserRegistry,
  unifiedRegisterTask,
  unifiedRegisterUserSession,
  unifiedUnregisterUserSession,
  unifiedUpdateTaskProgress,
  unifiedUpdateUserHeartbeat,
  unifiedUpdateUserService,
];

/**
 * Namespaces the original service also answered that live in other services now (CONTRACT §13.7):
 * their methods are METHOD_NOT_FOUND with a message that says so (the CHROMA_VECTOR registry
 * methods above excepted).
 */
export const FOREIGN_NAMESPACES: ReadonlyMap<string, string> = new Map([
  ['CHROMA_VECTOR', 'CHROMA_VECTOR.* vector-store operations are served elsewhere (the Chroma/vector service), not by this service; only register_collection_user, heartbeat_collection and unregister_collection_user are here'],
  ['FIREBASE_MANAGEMENT', 'FIREBASE_MANAGEMENT.* is served elsewhere (the Reflex backend calls Firebase directly), not by this service'],
  ['FIREBASE_REALTIME', 'FIREBASE_REALTIME.* is served elsewhere (the Reflex backend calls the Realtime Database directly), not by this service'],
]);

/** The METHOD_NOT_FOUND message for an unknown method name. */
export function unknownMethodMessage(method: string): string {
  const name = method.slice(0, 128);
  const ns = name.split('.', 1)[0] ?? '';
  const elsewhere = FOREIGN_NAMESPACES.get(ns);
  return elsewhere ? `unknown method "${name}": ${elsewhere}` : `unknown method "${name}"; see GET /rpc/methods`;
}

export function catalogueMap(methods: readonly RpcMethod[] = CATALOGUE): ReadonlyMap<string, RpcMethod> {
  const map = new Map<string, RpcMethod>();
  for (const m of methods) {
    if (map.has(m.name)) throw new Error(`duplicate RPC method ${m.name}`);
    map.set(m.name, m);
  }
  return map;
}
